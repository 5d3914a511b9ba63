/**
 * A stored (connection, subject) link signs its user in only while the user's current address is in a
 * domain the connection's organization verified: the organization's IdP speaks for those addresses, not
 * for an account whose address moved to another domain since (or whose domain the organization gave
 * up). Such a sign-in is refused and the stale link removed.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN, startApp, stopApp, type E2eApp } from './helpers.js';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import { connect, testDb } from '../support/tenancy.js';
import {
  enterpriseOrg,
  fakeDns,
  oidcConnection,
  ssoSignIn as signIn,
  verifiedAccount,
  verifyDomain,
} from './sso-helpers.js';

const dns = fakeDns();

describe('SSO: a stored identity whose account left the verified domains', () => {
  let c: E2eApp;
  let idp: FakeIdp;
  let org: { id: string; slug: string };
  let domain: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt: dns.resolveTxt } });
    idp = await startFakeIdp();
    domain = `stale-${randomBytes(4).toString('hex')}.test`;
    const owner = (await verifiedAccount(c, `owner@${domain}`)).browser;
    org = await enterpriseOrg(owner, 'stale');
    await verifyDomain(owner, dns, org.id, domain);
    await oidcConnection(owner, org.id, idp, 'Stale IdP');
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await stopApp(c);
  });

  const ssoSignIn = (sub: string, email: string) => signIn(c, idp, sub, email);

  it('is refused, and its link removed, once the account’s address is in no verified domain', async () => {
    const sub = `sub-${randomBytes(4).toString('hex')}`;
    const email = `carol-${randomBytes(3).toString('hex')}@${domain}`;
    const first = await ssoSignIn(sub, email);
    expect(first.res.headers.location).toBe(`${ORIGIN}/`);
    const userId = (await first.b.get('/v1/auth/me')).json<{ user: { id: string } }>().user.id;

    // The account's address moves to another domain (as a change of address would).
    const su = await connect(testDb().adminUrl);
    try {
      const elsewhere = `carol-${randomBytes(3).toString('hex')}@elsewhere-${randomBytes(3).toString('hex')}.test`;
      await su.query(`update users set email = $2, email_normalized = $2 where id = $1`, [userId, elsewhere]);
      const links = async () =>
        Number(
          (
            await su.query<{ n: string }>(`select count(*) as n from sso_identities where user_id = $1`, [
              userId,
            ])
          ).rows[0]!.n,
        );
      expect(await links()).toBe(1);

      // The IdP still names the subject (and any address of the domain): no sign-in as the moved account.
      const again = await ssoSignIn(sub, email);
      expect(again.res.headers.location).toBe(`${ORIGIN}/sign-in?sso_error=SSO_EMAIL_DOMAIN_NOT_ALLOWED`);
      expect((await again.b.get('/v1/auth/me')).statusCode).toBe(401);
      expect(await links(), 'the stale link is removed').toBe(0);
    } finally {
      await su.end();
    }
  });
});
