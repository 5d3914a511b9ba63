/**
 * Hostile review: an account someone registered with an address they do not own (never verified, a
 * password of their choosing) must not become the IdP user's account when the address's owner first signs
 * in through their organization's SSO. Today the SSO sign-in links it as it is: the squatter's password
 * and session then reach the organization the IdP just added the account to.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  ORIGIN,
  createOrg,
  inOrg,
  newPassword,
  nextMailedToken,
  startApp,
  stopApp,
  type E2eApp,
} from './helpers.js';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import { connect, testDb } from '../support/tenancy.js';

const txt = new Map<string, string>();
const resolveTxt = async (name: string) => {
  const v = txt.get(name);
  if (v === undefined) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return [[v]];
};

describe('SSO sign-in of an address someone registered before its owner (pre-registration)', () => {
  let c: E2eApp;
  let idp: FakeIdp;
  let owner: Browser;
  let org: { id: string; slug: string };
  let domain: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt } });
    idp = await startFakeIdp();
    domain = `victim-${randomBytes(4).toString('hex')}.test`;
    // Organization B: its owner, a verified domain and an OIDC connection.
    owner = new Browser(c);
    const ownerEmail = `owner@${domain}`;
    expect(
      (await owner.post('/v1/auth/register', { email: ownerEmail, password: newPassword() })).statusCode,
    ).toBe(202);
    const verified = await owner.post('/v1/auth/verify-email', {
      token: await nextMailedToken(ownerEmail, 'verify-email'),
    });
    expect(verified.statusCode, verified.body).toBe(200);
    org = await createOrg(owner, 'victim');
    const su = await connect(testDb().adminUrl);
    await su.query(`update organizations set plan = 'enterprise' where id = $1`, [org.id]);
    await su.end();
    const added = await owner.post('/v1/sso/domains', { domain }, inOrg(org.id));
    expect(added.statusCode, added.body).toBe(201);
    const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
    txt.set(rec.name, rec.value);
    expect((await owner.post(`/v1/sso/domains/${domain}/verify`, {}, inOrg(org.id))).statusCode).toBe(200);
    const created = await owner.post(
      '/v1/sso/connections',
      {
        kind: 'oidc',
        name: 'Victim IdP',
        defaultRole: 'member',
        oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
      },
      inOrg(org.id),
    );
    expect(created.statusCode, created.body).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await stopApp(c);
  });

  async function ssoSignIn(email: string): Promise<Browser> {
    idp.nextUser = { sub: `sub-${email}`, email, email_verified: true };
    const b = new Browser(c);
    const d = await b.post('/v1/auth/sso/discover', { email, returnTo: '/' });
    expect(d.statusCode, d.body).toBe(200);
    const at = await fetch(d.json<{ redirectUrl: string }>().redirectUrl, { redirect: 'manual' });
    const back = new URL(at.headers.get('location')!);
    const res = await b.get(`${back.pathname}${back.search}`);
    expect(res.statusCode, res.body).toBe(302);
    expect(res.headers.location).toBe(`${ORIGIN}/`);
    return b;
  }

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
