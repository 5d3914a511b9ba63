/**
 * Hostile review: an account someone registered with an address they do not own (never verified, a
 * password of their choosing) must not become the IdP user's account when the address's owner first signs
 * in through their organization's SSO. Today the SSO sign-in links it as it is: the squatter's password
 * and session then reach the organization the IdP just added the account to.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, inOrg, newPassword, startApp, stopApp, type E2eApp } from './helpers.js';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import {
  enterpriseOrg,
  fakeDns,
  oidcConnection,
  ssoSignedIn,
  verifiedAccount,
  verifyDomain,
} from './sso-helpers.js';

const dns = fakeDns();

describe('SSO sign-in of an address someone registered before its owner (pre-registration)', () => {
  let c: E2eApp;
  let idp: FakeIdp;
  let owner: Browser;
  let org: { id: string; slug: string };
  let domain: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt: dns.resolveTxt } });
    idp = await startFakeIdp();
    domain = `victim-${randomBytes(4).toString('hex')}.test`;
    // Organization B: its owner, a verified domain and an OIDC connection.
    owner = (await verifiedAccount(c, `owner@${domain}`)).browser;
    org = await enterpriseOrg(owner, 'victim');
    await verifyDomain(owner, dns, org.id, domain);
    await oidcConnection(owner, org.id, idp, 'Victim IdP');
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await stopApp(c);
  });

  const ssoSignIn = (email: string): Promise<Browser> => ssoSignedIn(c, idp, `sub-${email}`, email);

  it("the squatter's password and session do not reach the organization after the owner's first SSO sign-in", async () => {
    const victimEmail = `alice-${randomBytes(3).toString('hex')}@${domain}`;
    // 1. The attacker registers the address first (they cannot read its mail: it stays unverified) and
    //    signs in with their password: an unverified account may sign in.
    const attacker = new Browser(c);
    const password = newPassword();
    expect((await attacker.post('/v1/auth/register', { email: victimEmail, password })).statusCode).toBe(202);
    const login = await attacker.post('/v1/auth/login', { email: victimEmail, password });
    expect(login.statusCode, login.body).toBe(200);
    // Nothing of organization B yet.
    expect((await attacker.get('/v1/members', inOrg(org.id))).statusCode).toBe(404);

    // 2. Alice signs in through her organization's IdP for the first time.
    const alice = await ssoSignIn(victimEmail);
    const me = await alice.get('/v1/auth/me');
    expect(me.json()).toMatchObject({ currentOrganizationId: org.id });

    // 3. The attacker's session (started with the password they chose) must not read B's members...
    const viaOldSession = await attacker.get('/v1/members', inOrg(org.id));
    expect.soft(viaOldSession.statusCode, viaOldSession.body).not.toBe(200);
    // ...nor may their password sign in to the account B's IdP now vouches for.
    const again = new Browser(c);
    const relogin = await again.post('/v1/auth/login', { email: victimEmail, password });
    const members = await again.get('/v1/members', inOrg(org.id));
    expect(
      { login: relogin.statusCode, members: members.statusCode },
      'the squatter signs in with their own password and reads organization B',
    ).not.toEqual({ login: 200, members: 200 });
  });
});
