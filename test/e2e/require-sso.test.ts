/**
 * require-SSO beyond the password (docs/sso.md "Require SSO"): social sign-in and passkey sign-in of an
 * organization's members refused with the password login's SSO_REQUIRED answer, owners exempt
 * (break-glass), and addresses outside the organization's verified domains untouched.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareAuthenticator } from '../../src/modules/passkeys/passkeys.test-authenticator.js';
import { signInAtIdp, startOidcIdp, type OidcIdp } from '../support/oidc-idp.js';
import {
  Browser,
  ORIGIN,
  createOrg,
  inOrg,
  newPassword,
  nextMailedToken,
  rememberSecret,
  startApp,
  stopApp,
  type E2eApp,
} from './helpers.js';

const CALLBACK = `${ORIGIN}/v1/auth/social/google/callback`;
const txt = new Map<string, string>();
const resolveTxt = async (name: string) => {
  const v = txt.get(name);
  if (v === undefined) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
  return [[v]];
};

type Options = { challenge: string; user: { id: string }; [k: string]: unknown };
interface Person {
  browser: Browser;
  email: string;
  password: string;
  userId: string;
  key: SoftwareAuthenticator;
}

describe('require-SSO: social and passkey sign-in', () => {
  let c: E2eApp;
  let idp: OidcIdp;
  let org: { id: string; slug: string };
  let owner: Person;
  let member: Person;
  let outsider: Person;

  /** Signs up (verified) with a chosen address and registers a passkey for it. */
  async function person(email: string): Promise<Person> {
    const browser = new Browser(c);
    const password = newPassword();
    expect((await browser.post('/v1/auth/register', { email, password })).statusCode).toBe(202);
    const res = await browser.post('/v1/auth/verify-email', {
      token: await nextMailedToken(email, 'verify-email'),
    });
    expect(res.statusCode, res.body).toBe(200);
    const key = new SoftwareAuthenticator(ORIGIN);
    const opts = await browser.post('/v1/auth/passkeys/registration/options');
    expect(opts.statusCode, opts.body).toBe(200);
    const reg = await browser.post('/v1/auth/passkeys/registration/verify', {
      response: key.register(opts.json<Options>() as never),
      name: 'Laptop',
    });
    expect(reg.statusCode, reg.body).toBe(201);
    return { browser, email, password, userId: res.json<{ user: { id: string } }>().user.id, key };
  }

  const join = (p: Person) =>
    c.tenancy.withTenant(org.id, (db) =>
      db
        .insertInto('memberships')
        .values({ organization_id: org.id, user_id: p.userId, role: 'member', status: 'active' })
        .execute(),
    );

  beforeAll(async () => {
    idp = await startOidcIdp({ redirectUris: [CALLBACK] });
    rememberSecret(idp.clientSecret);
    c = await startApp({
      sso: { resolveTxt },
      socialSignIn: {
        providers: [
          {
            kind: 'oidc',
            id: 'google',
            label: 'Google',
            clientId: idp.clientId,
            clientSecret: idp.clientSecret,
            scopes: ['openid', 'email'],
            issuer: idp.issuer,
          },
        ],
      },
    });
    const domain = `req-${randomBytes(4).toString('hex')}.test`;
    owner = await person(`owner@${domain}`);
    org = await createOrg(owner.browser, 'reqsso');
    const added = await owner.browser.post('/v1/sso/domains', { domain }, inOrg(org.id));
    expect(added.statusCode, added.body).toBe(201);
    const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
    txt.set(rec.name, rec.value);
    expect((await owner.browser.post(`/v1/sso/domains/${domain}/verify`, {}, inOrg(org.id))).statusCode).toBe(
      200,
    );
    member = await person(`member@${domain}`);
    outsider = await person(`outsider-${randomBytes(3).toString('hex')}@elsewhere.example.com`);
    await join(member);
    await join(outsider);
    const on = await owner.browser.put('/v1/sso/settings', { requireSso: true }, inOrg(org.id));
    expect(on.statusCode, on.body).toBe(200);
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
    await idp?.close();
  });

  /** The password login's refusal of this member: what the other ways must answer too. */
  async function passwordRefusal() {
    const res = await new Browser(c).post('/v1/auth/login', {
      email: member.email,
      password: member.password,
    });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({
      error: {
        code: 'SSO_REQUIRED',
        details: { discover: '/v1/auth/sso/discover', organization: org.slug },
      },
    });
    return res.json<unknown>();
  }

  /** A social sign-in with a provider account verifying `email`: the callback's answer and the browser. */
  async function social(email: string, headers: Record<string, string> = {}) {
    const login = `user-${randomBytes(6).toString('hex')}`;
    idp.accounts.set(login, { email, email_verified: true });
    const b = new Browser(c);
    const start = await b.get('/v1/auth/social/google/start');
    expect(start.statusCode).toBe(302);
    const flow = /sr_social=([^;]+)/.exec(String(start.headers['set-cookie']))![1]!;
    const back = await signInAtIdp(String(start.headers.location), login, CALLBACK);
    const res = await b.get(back.slice(ORIGIN.length), { cookie: `sr_social=${flow}`, ...headers });
    return { b, res };
  }

  /** A fresh browser's passwordless sign-in with this person's passkey. */
  async function passkey(p: Person) {
    const b = new Browser(c);
    const opts = await b.post('/v1/auth/passkeys/sign-in/options');
    expect(opts.statusCode, opts.body).toBe(200);
    const line = [opts.headers['set-cookie']].flat().find((l) => l?.startsWith('sr_passkey='));
    const bound = /^sr_passkey=([^;]+)/.exec(line ?? '')![1]!;
    const res = await b.post(
      '/v1/auth/passkeys/sign-in/verify',
      { response: p.key.assert(opts.json<Options>()) },
      { cookie: `sr_passkey=${bound}` },
    );
    return { b, res };
  }

  it('social sign-in: a member is refused as by password, no session; owner and outside address sign in', async () => {
    const refusal = await passwordRefusal();
    const m = await social(member.email);
    expect(m.res.statusCode).toBe(403);
    expect(m.res.json()).toEqual(refusal);
    expect(m.b.cookie).toBeNull();
    // A browser navigation goes back to the sign-in page with the code.
    const html = await social(member.email, { accept: 'text/html' });
    expect(html.res.statusCode).toBe(303);
    expect(html.res.headers.location).toBe('/sign-in?error=SSO_REQUIRED');
    expect(html.b.cookie).toBeNull();

    for (const p of [owner, outsider]) {
      const ok = await social(p.email);
      expect(ok.res.statusCode, ok.res.body).toBe(303);
      const me = await ok.b.get('/v1/auth/me');
      expect(me.statusCode).toBe(200);
      expect(me.json<{ user: { id: string } }>().user.id).toBe(p.userId);
    }
  }, 60_000);

  it('passkey sign-in: a member is refused as by password, no session; owner and outside address sign in', async () => {
    const refusal = await passwordRefusal();
    const m = await passkey(member);
    expect(m.res.statusCode).toBe(403);
    expect(m.res.json()).toEqual(refusal);
    expect(m.b.cookie).toBeNull();
    for (const p of [owner, outsider]) {
      const ok = await passkey(p);
      expect(ok.res.statusCode, ok.res.body).toBe(200);
      expect(ok.res.json()).toMatchObject({ user: { id: p.userId } });
      expect((await ok.b.get('/v1/auth/me')).statusCode).toBe(200);
    }
  });

  it('require-SSO off: the member signs in with the social account and the passkey again', async () => {
    const off = await owner.browser.put('/v1/sso/settings', { requireSso: false }, inOrg(org.id));
    expect(off.statusCode).toBe(200);
    expect((await social(member.email)).res.statusCode).toBe(303);
    expect((await passkey(member)).res.statusCode).toBe(200);
  }, 60_000);
});
