/**
 * A stored (connection, subject) link signs its user in only while the user's current address is in a
 * domain the connection's organization verified: the organization's IdP speaks for those addresses, not
 * for an account whose address moved to another domain since (or whose domain the organization gave
 * up). Such a sign-in is refused and the stale link removed.
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

describe('SSO: a stored identity whose account left the verified domains', () => {
  let c: E2eApp;
  let idp: FakeIdp;
  let org: { id: string; slug: string };
  let domain: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt } });
    idp = await startFakeIdp();
    domain = `stale-${randomBytes(4).toString('hex')}.test`;
    const owner = new Browser(c);
    const ownerEmail = `owner@${domain}`;
    expect(
      (await owner.post('/v1/auth/register', { email: ownerEmail, password: newPassword() })).statusCode,
    ).toBe(202);
    const verified = await owner.post('/v1/auth/verify-email', {
      token: await nextMailedToken(ownerEmail, 'verify-email'),
    });
    expect(verified.statusCode, verified.body).toBe(200);
    org = await createOrg(owner, 'stale');
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
        name: 'Stale IdP',
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

  async function ssoSignIn(sub: string, email: string) {
    idp.nextUser = { sub, email, email_verified: true };
    const b = new Browser(c);
    const d = await b.post('/v1/auth/sso/discover', { email, returnTo: '/' });
    expect(d.statusCode, d.body).toBe(200);
    const at = await fetch(d.json<{ redirectUrl: string }>().redirectUrl, { redirect: 'manual' });
    const back = new URL(at.headers.get('location')!);
    return { b, res: await b.get(`${back.pathname}${back.search}`) };
  }

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
