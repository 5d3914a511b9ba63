/**
 * Social sign-in against a real OpenID Connect provider (oidc-provider, in process) standing in for
 * Google: the preset's issuer points at it, nothing else is replaced. Browsers are cookie jars; the
 * provider's login and consent pages are posted as a browser would.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, testDb } from '../support/tenancy.js';
import { signInAtIdp, startOidcIdp, type OidcIdp } from '../support/oidc-idp.js';
import {
  Browser,
  ORIGIN,
  enrollTotp,
  rememberSecret,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';

/** The parts of answers these tests read. */
interface Body {
  user: { id: string; email: string };
  currentOrganizationId: string | null;
  data: { id: string }[];
  error: { code: string };
}

const CALLBACK = `${ORIGIN}/v1/auth/social/google/callback`;
const ACME_CALLBACK = `${ORIGIN}/v1/auth/social/oidc:acme-sso/callback`;

describe('social sign-in: Google-like OpenID Connect', () => {
  let c: E2eApp;
  let idp: OidcIdp;

  beforeAll(async () => {
    idp = await startOidcIdp({ redirectUris: [CALLBACK, ACME_CALLBACK] });
    rememberSecret(idp.clientSecret);
    c = await startApp({
      socialSignIn: {
        providers: [
          {
            kind: 'oidc',
            id: 'google',
            label: 'Google',
            clientId: idp.clientId,
            clientSecret: idp.clientSecret,
            scopes: ['openid', 'email', 'profile'],
            issuer: idp.issuer,
          },
          {
            kind: 'oidc',
            id: 'oidc:acme-sso',
            label: 'Acme',
            clientId: idp.clientId,
            clientSecret: idp.clientSecret,
            scopes: ['openid', 'email'],
            issuer: idp.issuer,
          },
        ],
      },
    });
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
    await idp?.close();
  });

  /** A provider account with these claims; its login (the subject) is returned. */
  const account = (claims: { email?: string; email_verified?: boolean; name?: string }) => {
    const login = `user-${randomBytes(6).toString('hex')}`;
    idp.accounts.set(login, claims);
    return login;
  };

  /** Starts at the app, signs in at the provider; answers the callback URL (path and query) and the browser. */
  async function throughProvider(login: string, returnTo = '/o/somewhere/projects') {
    const b = new Browser(c);
    const start = await b.get(`/v1/auth/social/google/start?returnTo=${encodeURIComponent(returnTo)}`);
    expect(start.statusCode).toBe(302);
    const flowCookie = /sr_social=([^;]+)/.exec(String(start.headers['set-cookie']))?.[1];
    expect(flowCookie).toBeTruthy();
    const location = String(start.headers.location);
    const auth = new URL(location);
    expect(auth.origin).toBe(idp.issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    expect(auth.searchParams.get('state')).toBeTruthy();
    expect(auth.searchParams.get('redirect_uri')).toBe(CALLBACK);
    const back = await signInAtIdp(location, login, CALLBACK);
    const callback = back.slice(ORIGIN.length);
    return { b, callback, flowCookie: flowCookie! };
  }

  const complete = (
    x: { b: Browser; callback: string; flowCookie: string },
    headers: Record<string, string> = {},
  ) => x.b.get(x.callback, { cookie: `sr_social=${x.flowCookie}`, ...headers });

  it('a new address: an account with its Personal Organization, email verified, signed in, back to returnTo', async () => {
    const email = uniqueEmail('social-new');
    const x = await throughProvider(account({ email, email_verified: true, name: 'Ada Social' }));
    const res = await complete(x);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/o/somewhere/projects');
    expect(String(res.headers['set-cookie'])).toContain('sr_social=;');
    expect(x.b.cookie).toBeTruthy();
    const me = await x.b.get('/v1/auth/me');
    expect(me.statusCode).toBe(200);
    expect(me.json<Body>().user).toMatchObject({ email, emailVerified: true });
    expect(me.json<Body>().currentOrganizationId).toBeTruthy();
    const orgs = await x.b.get('/v1/organizations');
    expect(orgs.json<Body>().data).toHaveLength(1);
    expect(orgs.json<Body>().data[0]).toMatchObject({ personal: true, role: 'owner' });
    const ids = await x.b.get('/v1/auth/identities');
    expect(ids.json<Body>().data).toEqual([
      expect.objectContaining({ provider: 'google', providerLabel: 'Google', email }),
    ]);
    // No password: the only identity cannot be unlinked.
    const unlink = await x.b.delete(`/v1/auth/identities/${ids.json<Body>().data[0]!.id}`);
    expect(unlink.statusCode).toBe(409);
    expect(unlink.json<Body>().error.code).toBe('SOCIAL_LAST_SIGN_IN_METHOD');
  }, 60_000);

  it('the same provider account signs in again as the same user (no second account)', async () => {
    const email = uniqueEmail('social-again');
    const login = account({ email, email_verified: true });
    const first = await complete(await throughProvider(login));
    expect(first.statusCode).toBe(303);
    const x = await throughProvider(login);
    await complete(x);
    const me = await x.b.get('/v1/auth/me');
    expect(me.json<Body>().user.email).toBe(email);
    const su = await connect(testDb().adminUrl);
    try {
      const users = await su.query('select id from users where email_normalized = $1', [email]);
      expect(users.rowCount).toBe(1);
    } finally {
      await su.end();
    }
  }, 60_000);

  it('a verified address of an existing user links to that user; with a password, unlinking is allowed', async () => {
    const email = uniqueEmail('social-link');
    const password = rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
    const existing = await c.services.auth.registerUser(
      { email, password },
      { createPersonalOrganization: true, emailVerified: true },
    );
    const x = await throughProvider(account({ email: email.toUpperCase(), email_verified: true }));
    expect((await complete(x)).statusCode).toBe(303);
    const me = await x.b.get('/v1/auth/me');
    expect(me.json<Body>().user.id).toBe(existing.user.id);
    const orgs = await x.b.get('/v1/organizations');
    expect(orgs.json<Body>().data).toHaveLength(1); // no second Personal Organization
    const ids = (await x.b.get('/v1/auth/identities')).json<Body>().data as { id: string }[];
    expect(ids).toHaveLength(1);

    // Another user cannot see or unlink it: 404, as for one that does not exist.
    const other = await complete(
      await throughProvider(account({ email: uniqueEmail('social-other'), email_verified: true })),
    );
    expect(other.statusCode).toBe(303);
    const stranger = new Browser(c);
    stranger.cookie = /sr_session=([^;]+)/.exec(String(other.headers['set-cookie']))![1]!;
    stranger.cookie = `sr_session=${stranger.cookie}`;
    const foreign = await stranger.delete(`/v1/auth/identities/${ids[0]!.id}`);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json<Body>().error.code).toBe('SOCIAL_IDENTITY_NOT_FOUND');

    const unlink = await x.b.delete(`/v1/auth/identities/${ids[0]!.id}`);
    expect(unlink.statusCode).toBe(204);
    expect((await x.b.get('/v1/auth/identities')).json<Body>().data).toEqual([]);
  }, 60_000);

  it('an unverified address of an existing user is refused: no link, no account, no session', async () => {
    const email = uniqueEmail('social-unverified');
    const password = rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
    const existing = await c.services.auth.registerUser(
      { email, password },
      { createPersonalOrganization: true, emailVerified: true },
    );
    const login = account({ email, email_verified: false });
    const x = await throughProvider(login);
    const res = await complete(x);
    expect(res.statusCode).toBe(403);
    expect(res.json<Body>().error.code).toBe('SOCIAL_EMAIL_UNVERIFIED');
    expect(x.b.cookie).toBeNull();
    // A browser navigation goes back to the sign-in page with the code.
    const again = await throughProvider(login);
    const html = await complete(again, { accept: 'text/html' });
    expect(html.statusCode).toBe(303);
    expect(html.headers.location).toBe('/sign-in?error=SOCIAL_EMAIL_UNVERIFIED');
    const su = await connect(testDb().adminUrl);
    try {
      const links = await su.query('select 1 from social_identities where subject = $1', [login]);
      expect(links.rowCount).toBe(0);
      const users = await su.query('select id from users where email_normalized = $1', [email]);
      expect(users.rows).toEqual([{ id: existing.user.id }]);
    } finally {
      await su.end();
    }
  }, 60_000);

  it('an unverified address nobody has: a new account, email not verified', async () => {
    const email = uniqueEmail('social-unverified-new');
    const x = await throughProvider(account({ email, email_verified: false }));
    expect((await complete(x)).statusCode).toBe(303);
    const me = await x.b.get('/v1/auth/me');
    expect(me.json<Body>().user).toMatchObject({ email, emailVerified: false });
  }, 60_000);

  it('bad state, another browser, and a replayed callback are refused', async () => {
    const login = account({ email: uniqueEmail('social-state'), email_verified: true });
    const x = await throughProvider(login);
    // A forged state.
    const forged = x.callback.replace(/state=[^&]+/, 'state=forged');
    const bad = await x.b.get(forged, { cookie: `sr_social=${x.flowCookie}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<Body>().error.code).toBe('SOCIAL_STATE_INVALID');
    // The right state in a browser that did not start it (no cookie, or another one): refused, and used up.
    const y = await throughProvider(login);
    const elsewhere = await new Browser(c).get(y.callback, { cookie: 'sr_social=someone-elses' });
    expect(elsewhere.statusCode).toBe(400);
    expect((await complete(y)).statusCode).toBe(400);
    // Replay: the first use succeeds, the second is refused.
    const z = await throughProvider(login);
    expect((await complete(z)).statusCode).toBe(303);
    const replay = await complete({ ...z, b: new Browser(c) });
    expect(replay.statusCode).toBe(400);
    expect(replay.json<Body>().error.code).toBe('SOCIAL_STATE_INVALID');
  }, 60_000);

  it.each([
    ['issuer', (cl: Record<string, unknown>) => ({ ...cl, iss: 'https://evil.example.com' })],
    ['audience', (cl: Record<string, unknown>) => ({ ...cl, aud: 'another-client' })],
    ['nonce', (cl: Record<string, unknown>) => ({ ...cl, nonce: 'not-the-nonce' })],
  ])(
    'an ID token with the wrong %s is refused',
    async (_what, tamper) => {
      const email = uniqueEmail('social-tamper');
      const x = await throughProvider(account({ email, email_verified: true }));
      idp.tamperIdToken = tamper;
      try {
        const res = await complete(x);
        expect(res.statusCode).toBe(401);
        expect(res.json<Body>().error.code).toBe('SOCIAL_PROVIDER_REFUSED');
        expect(x.b.cookie).toBeNull();
      } finally {
        idp.tamperIdToken = null;
      }
    },
    60_000,
  );

  it('a user with two-factor authentication waits for the second factor', async () => {
    const email = uniqueEmail('social-2fa');
    const login = account({ email, email_verified: true });
    expect((await complete(await throughProvider(login))).statusCode).toBe(303);
    const su = await connect(testDb().adminUrl);
    try {
      await su.query('update users set totp_enabled_at = now() where email_normalized = $1', [email]);
    } finally {
      await su.end();
    }
    const x = await throughProvider(login, '/account');
    const res = await complete(x);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/sign-in?step=second-factor&next=%2Faccount');
    expect((await x.b.get('/v1/auth/me')).statusCode).toBe(401);
  }, 60_000);

  it('returnTo outside this site returns to /; providers are listed; an unknown provider is 404', async () => {
    const x = await throughProvider(
      account({ email: uniqueEmail('social-return'), email_verified: true }),
      '//evil.example.com/x',
    );
    const res = await complete(x);
    expect(res.headers.location).toBe('/');
    const list = await new Browser(c).get('/v1/auth/social/providers');
    expect(list.json()).toEqual({
      data: [
        { id: 'google', label: 'Google', startUrl: '/v1/auth/social/google/start' },
        { id: 'oidc:acme-sso', label: 'Acme', startUrl: '/v1/auth/social/oidc:acme-sso/start' },
      ],
    });
    const unknown = await new Browser(c).get('/v1/auth/social/nope/start');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<Body>().error.code).toBe('SOCIAL_PROVIDER_NOT_FOUND');
  }, 60_000);
  it('a generic oidc:<name> provider: its own callback URL, the same account rules', async () => {
    const email = uniqueEmail('social-generic');
    const login = account({ email, email_verified: true });
    const b = new Browser(c);
    const start = await b.get('/v1/auth/social/oidc:acme-sso/start');
    expect(start.statusCode).toBe(302);
    const location = String(start.headers.location);
    expect(new URL(location).searchParams.get('redirect_uri')).toBe(ACME_CALLBACK);
    const flow = /sr_social=([^;]+)/.exec(String(start.headers['set-cookie']))![1]!;
    const back = await signInAtIdp(location, login, ACME_CALLBACK);
    const res = await b.get(back.slice(ORIGIN.length), { cookie: `sr_social=${flow}` });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/');
    const ids = (await b.get('/v1/auth/identities')).json<{ data: { provider: string }[] }>().data;
    expect(ids.map((i) => i.provider)).toEqual(['oidc:acme-sso']);
    // A flow started for one provider does not complete at another's callback.
    const other = await throughProvider(login);
    const crossed = await other.b.get(other.callback.replace('/google/', '/oidc:acme-sso/'), {
      cookie: `sr_social=${other.flowCookie}`,
    });
    expect(crossed.statusCode).toBe(400);
    expect(crossed.json<Body>().error.code).toBe('SOCIAL_STATE_INVALID');
  }, 60_000);

  it('linking proves an address its account had not verified: verified now, earlier sessions, password and TOTP ended', async () => {
    const email = uniqueEmail('social-prehijack');
    const password = rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
    const { user } = await c.services.auth.registerUser(
      { email, password },
      { createPersonalOrganization: true },
    );
    const earlier = new Browser(c);
    expect((await earlier.post('/v1/auth/login', { email, password })).statusCode).toBe(200);
    expect((await earlier.get('/v1/auth/me')).statusCode).toBe(200);
    // Whoever typed the address also enrolled a TOTP second factor (with its recovery codes).
    await enrollTotp(earlier);
    const x = await throughProvider(account({ email, email_verified: true }));
    // The factor is gone with the rest: the owner is signed in at once, not asked for a code.
    expect((await complete(x)).statusCode).toBe(303);
    expect((await x.b.get('/v1/auth/me')).statusCode).toBe(200);
    const su = await connect(testDb().adminUrl);
    try {
      const factor = await su.query(
        'select totp_secret_enc, totp_enabled_at, two_factor_pending_secret_enc from users where id = $1',
        [user.id],
      );
      expect(factor.rows).toEqual([
        { totp_secret_enc: null, totp_enabled_at: null, two_factor_pending_secret_enc: null },
      ]);
      const codes = await su.query('select 1 from recovery_codes where user_id = $1', [user.id]);
      expect(codes.rowCount).toBe(0);
    } finally {
      await su.end();
    }
    expect(
      (await x.b.get('/v1/auth/me')).json<{ user: { emailVerified: boolean } }>().user.emailVerified,
    ).toBe(true);
    expect((await earlier.get('/v1/auth/me')).statusCode).toBe(401);
    // Nor does the password whoever typed the address chose: the owner sets one by a reset if they want one.
    const again = new Browser(c);
    expect((await again.post('/v1/auth/login', { email, password })).statusCode).toBe(401);
  }, 60_000);

  it('an identity linked while the address was unproven is dropped when the owner proves it (no pre-hijack)', async () => {
    const email = uniqueEmail('social-prehijack-idp');
    // Someone who merely typed the address at a provider that does not verify it.
    const attacker = account({ email, email_verified: false });
    const viaAcme = async () => {
      const b = new Browser(c);
      const start = await b.get('/v1/auth/social/oidc:acme-sso/start');
      const flow = /sr_social=([^;]+)/.exec(String(start.headers['set-cookie']))![1]!;
      const back = await signInAtIdp(String(start.headers.location), attacker, ACME_CALLBACK);
      await b.get(back.slice(ORIGIN.length), { cookie: `sr_social=${flow}` });
      return b;
    };
    const first = await viaAcme();
    const me = await first.get('/v1/auth/me');
    expect(me.statusCode, me.body).toBe(200);
    const userId = me.json<{ user: { id: string } }>().user.id;
    // The owner of the address signs in with a provider that verified it: the same account, now proven.
    const owner = await throughProvider(account({ email, email_verified: true }));
    expect((await complete(owner)).statusCode).toBe(303);
    const ownerMe = (await owner.b.get('/v1/auth/me')).json<{ user: { id: string } }>();
    expect(ownerMe.user.id).toBe(userId);
    const ids = (await owner.b.get('/v1/auth/identities')).json<{ data: { provider: string }[] }>().data;
    expect(ids.map((i) => i.provider)).toEqual(['google']);
    // The unproven identity no longer signs in to the owner's account.
    const again = await viaAcme();
    expect((await again.get('/v1/auth/me')).statusCode).toBe(401);
  }, 60_000);
});
