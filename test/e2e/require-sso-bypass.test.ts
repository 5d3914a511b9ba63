/**
 * require-SSO (docs/sso.md "Require SSO") against the ways around it beyond the sign-in forms: the email
 * verification link (which signs the verifier in) and an address written in Unicode for a verified
 * internationalized domain (the organization verifies its ASCII, punycode form), and register-and-accept of
 * an invitation (which signs the new member in).
 */
import { randomBytes } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  createOrg,
  inOrg,
  invite,
  newPassword,
  nextMailedToken,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
} from './helpers.js';
import { fakeDns, verifyDomain } from './sso-helpers.js';

const dns = fakeDns();

describe('require-SSO: no session without the IdP', () => {
  let c: E2eApp;
  let owner: Browser;

  beforeAll(async () => {
    c = await startApp({ sso: { resolveTxt: dns.resolveTxt } });
    owner = (await signUp(c, 'reqsso-owner')).browser;
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  /** An organization that verified `domain` and requires SSO. */
  async function requiringOrg(domain: string) {
    const org = await createOrg(owner, 'reqsso');
    await verifyDomain(owner, dns, org.id, domain);
    const on = await owner.put('/v1/sso/settings', { requireSso: true }, inOrg(org.id));
    expect(on.statusCode, on.body).toBe(200);
    return org;
  }

  /** Makes the account a member (as a SCIM link of an existing account of a verified domain does). */
  async function join(orgId: string, email: string) {
    await c.tenancy.withTenant(orgId, async (db) => {
      const user = await db
        .selectFrom('users')
        .select('id')
        .where('email_normalized', '=', email.toLowerCase())
        .executeTakeFirstOrThrow();
      await db
        .insertInto('memberships')
        .values({ organization_id: orgId, user_id: user.id, role: 'member', status: 'active' })
        .execute();
    });
  }

  it('the email verification link verifies a member but signs them in only through the IdP', async () => {
    const domain = `reqv-${randomBytes(4).toString('hex')}.test`;
    const org = await requiringOrg(domain);
    const email = `member@${domain}`;
    const b = new Browser(c);
    expect((await b.post('/v1/auth/register', { email, password: newPassword() })).statusCode).toBe(202);
    const token = await nextMailedToken(email, 'verify-email');
    await join(org.id, email);

    const res = await b.post('/v1/auth/verify-email', { token });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ signedIn: false, twoFactorRequired: false });
    expect(b.cookie).toBeNull();
    const verified = await c.tenancy.withTenant(org.id, (db) =>
      db
        .selectFrom('users')
        .select('email_verified_at')
        .where('email_normalized', '=', email)
        .executeTakeFirstOrThrow(),
    );
    expect(verified.email_verified_at).not.toBeNull();
  });

  it('an address in the Unicode form of a verified internationalized domain is refused as the ASCII one', async () => {
    const unicode = `bücher-${randomBytes(4).toString('hex')}.test`;
    const ascii = domainToASCII(unicode);
    expect(ascii.startsWith('xn--')).toBe(true);
    const org = await requiringOrg(ascii);
    for (const email of [`member@${unicode}`, `other@${unicode.toUpperCase()}`]) {
      const password = newPassword();
      const reg = await new Browser(c).post('/v1/auth/register', { email, password });
      expect(reg.statusCode, reg.body).toBe(202);
      await join(org.id, email);
      const res = await new Browser(c).post('/v1/auth/login', { email, password });
      expect(res.statusCode, res.body).toBe(403);
      expect(res.json()).toMatchObject({
        error: { code: 'SSO_REQUIRED', details: { organization: org.slug } },
      });
    }
  });

  it('register-and-accept joins a member of a verified domain but signs them in only through the IdP', async () => {
    const domain = `reqi-${randomBytes(4).toString('hex')}.test`;
    const org = await requiringOrg(domain);
    const email = `invited@${domain}`;
    const { token } = await invite(owner, org.id, email, 'member');
    const b = new Browser(c);
    const res = await b.post('/v1/invitations/accept-new', { token, password: newPassword() });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ organizationId: org.id, role: 'member' });
    expect(b.cookie).toBeNull();

    // Outside the verified domains the new member is signed in as before.
    const elsewhere = `invited-${randomBytes(4).toString('hex')}@elsewhere.example.com`;
    const other = await invite(owner, org.id, elsewhere, 'member');
    const b2 = new Browser(c);
    const ok = await b2.post('/v1/invitations/accept-new', { token: other.token, password: newPassword() });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(b2.cookie).not.toBeNull();
  });
});
