import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoftwareAuthenticator } from '../../src/modules/passkeys/passkeys.test-authenticator.js';
import {
  api,
  Browser,
  enrollTotp,
  logIn,
  ORIGIN,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  uniqueEmail,
  type E2eApp,
  type User,
} from './helpers.js';

type Json = Record<string, unknown>;
type Options = { challenge: string; user: { id: string }; [k: string]: unknown };

describe('e2e: passkeys (WebAuthn ceremonies with a software authenticator)', () => {
  let c: E2eApp;

  beforeAll(async () => {
    c = await startApp();
  });
  afterAll(() => stopApp(c));

  /** Registers a passkey for the signed-in browser; returns the authenticator and the stored passkey. */
  async function register(who: Browser, name = 'Laptop', auth = new SoftwareAuthenticator(ORIGIN)) {
    const opts = await who.post('/v1/auth/passkeys/registration/options');
    expect(opts.statusCode, opts.body).toBe(200);
    const options = opts.json<Options>();
    expect(options).toMatchObject({
      rp: { id: 'app.saasready.test' },
      authenticatorSelection: { residentKey: 'required' },
    });
    const res = await who.post('/v1/auth/passkeys/registration/verify', {
      response: auth.register(options as never),
      name,
    });
    expect(res.statusCode, res.body).toBe(201);
    return { auth, passkey: res.json<{ id: string; name: string; lastUsedAt: string | null }>() };
  }

  /** A fresh browser's passwordless sign-in: options (with its cookie), then the assertion. */
  async function passkeySignIn(
    auth: SoftwareAuthenticator,
    lie: Parameters<SoftwareAuthenticator['assert']>[1] = {},
  ) {
    const b = new Browser(c);
    const opts = await b.post('/v1/auth/passkeys/sign-in/options');
    expect(opts.statusCode, opts.body).toBe(200);
    const cookie = [opts.headers['set-cookie']].flat().find((l) => l?.startsWith('sr_passkey='));
    const bound = /^sr_passkey=([^;]+)/.exec(cookie ?? '')![1]!;
    const options = opts.json<Options>();
    expect(options).toMatchObject({ rpId: 'app.saasready.test', userVerification: 'required' });
    const res = await b.post(
      '/v1/auth/passkeys/sign-in/verify',
      { response: auth.assert(options, lie) },
      { cookie: `sr_passkey=${bound}` },
    );
    return { b, res, bound, options };
  }

  let alice: User;
  let aliceKey: SoftwareAuthenticator;
  let alicePasskeyId: string;

  it('registers a passkey for a signed-in user; lists, renames it', async () => {
    alice = await signUp(c, 'pk-alice');
    const { auth, passkey } = await register(alice.browser, 'Laptop');
    aliceKey = auth;
    alicePasskeyId = passkey.id;
    expect(passkey).toMatchObject({ name: 'Laptop', lastUsedAt: null });

    const list = await alice.browser.get('/v1/auth/passkeys?limit=10');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ data: [{ id: passkey.id, name: 'Laptop' }], nextCursor: null });
    expect(JSON.stringify(list.json())).not.toContain('publicKey');

    const renamed = await alice.browser.patch(`/v1/auth/passkeys/${passkey.id}`, { name: ' Work laptop ' });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'Work laptop' });
  });

  it('an API access token cannot add or remove a passkey (403 PASSKEY_SESSION_REQUIRED)', async () => {
    const { accessToken } = await tokenPair(alice.browser, alice.personalOrgId);
    const client = api(c, accessToken);
    const res = await client.post('/v1/auth/passkeys/registration/options');
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: { code: 'PASSKEY_SESSION_REQUIRED' } });
  });

  it('the same authenticator credential cannot be registered twice', async () => {
    const opts = (await alice.browser.post('/v1/auth/passkeys/registration/options')).json<Options>();
    expect(opts.excludeCredentials).toEqual([expect.objectContaining({ id: aliceKey.credentialId })]);
    const res = await alice.browser.post('/v1/auth/passkeys/registration/verify', {
      response: aliceKey.register(opts as never),
      name: 'Again',
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: { code: 'PASSKEY_ALREADY_REGISTERED' } });
  });

  it('refuses registration from a wrong origin, for a wrong rpId, with a reused or another session’s challenge', async () => {
    const bob = await signUp(c, 'pk-bob');
    const tries: [string, (o: Options) => unknown][] = [
      [
        'origin',
        (o) => new SoftwareAuthenticator(ORIGIN).register(o as never, { origin: 'https://evil.example' }),
      ],
      ['rpId', (o) => new SoftwareAuthenticator(ORIGIN).register(o as never, { rpId: 'evil.example' })],
    ];
    for (const [what, respond] of tries) {
      const o = (await bob.browser.post('/v1/auth/passkeys/registration/options')).json<Options>();
      const res = await bob.browser.post('/v1/auth/passkeys/registration/verify', {
        response: respond(o),
        name: what,
      });
      expect(res.statusCode, what).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'PASSKEY_INVALID' } });
    }
    // Reuse: a challenge is consumed by its first verification.
    const o = (await bob.browser.post('/v1/auth/passkeys/registration/options')).json<Options>();
    const key = new SoftwareAuthenticator(ORIGIN);
    const first = await bob.browser.post('/v1/auth/passkeys/registration/verify', {
      response: key.register(o as never),
      name: 'Phone',
    });
    expect(first.statusCode).toBe(201);
    const replay = await bob.browser.post('/v1/auth/passkeys/registration/verify', {
      response: new SoftwareAuthenticator(ORIGIN).register(o as never),
      name: 'Replay',
    });
    expect(replay.statusCode).toBe(400);
    // Another session's challenge: Bob's options, answered in Alice's session.
    const bobs = (await bob.browser.post('/v1/auth/passkeys/registration/options')).json<Options>();
    await alice.browser.post('/v1/auth/passkeys/registration/options');
    const crossed = await alice.browser.post('/v1/auth/passkeys/registration/verify', {
      response: new SoftwareAuthenticator(ORIGIN).register(bobs as never),
      name: 'Crossed',
    });
    expect(crossed.statusCode).toBe(400);
    // Bob's passkeys are not Alice's: 404 for another user's passkey.
    const bobList = (await bob.browser.get('/v1/auth/passkeys')).json<{ data: { id: string }[] }>();
    expect(bobList.data).toHaveLength(1);
    const other = await alice.browser.patch(`/v1/auth/passkeys/${bobList.data[0]!.id}`, { name: 'Mine' });
    expect(other.statusCode).toBe(404);
    expect((await alice.browser.delete(`/v1/auth/passkeys/${bobList.data[0]!.id}`)).statusCode).toBe(404);
  });

  it('signs in without a password (usernameless), as a new session in the starting organization', async () => {
    const { b, res } = await passkeySignIn(aliceKey);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      twoFactorRequired: false,
      user: { id: alice.userId },
      currentOrganizationId: alice.personalOrgId,
    });
    expect(b.cookie).not.toBeNull();
    const me = await b.get('/v1/auth/me');
    expect(me.statusCode).toBe(200);
    const list = (await b.get('/v1/auth/passkeys')).json<{ data: { lastUsedAt: string | null }[] }>();
    expect(list.data[0]!.lastUsedAt).not.toBeNull();
  });

  it('refuses sign-in: wrong origin, wrong rpId, no user verification, reused challenge, counter regression', async () => {
    for (const lie of [{ origin: 'https://evil.example' }, { rpId: 'evil.example' }, { uv: false }]) {
      const { res } = await passkeySignIn(aliceKey, lie);
      expect(res.statusCode, JSON.stringify(lie)).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'PASSKEY_SIGN_IN_FAILED' } });
    }
    // Reuse: the same browser cookie and assertion again.
    const { res, bound, options } = await passkeySignIn(aliceKey);
    expect(res.statusCode).toBe(200);
    const again = await new Browser(c).post(
      '/v1/auth/passkeys/sign-in/verify',
      { response: aliceKey.assert(options) },
      { cookie: `sr_passkey=${bound}` },
    );
    expect(again.statusCode).toBe(401);
    // Counter regression (a cloned authenticator): refused, and logged as such.
    const cloned = await passkeySignIn(aliceKey, { counter: 1 });
    expect(cloned.res.statusCode).toBe(401);
    expect(c.logs.some((l) => (l as Json).passkey === 'counter_regression')).toBe(true);
    // Without the browser's cookie the challenge is unknown.
    const b = new Browser(c);
    const o = (await b.post('/v1/auth/passkeys/sign-in/options')).json<Options>();
    const bare = await b.post('/v1/auth/passkeys/sign-in/verify', { response: aliceKey.assert(o) });
    expect(bare.statusCode).toBe(401);
  });

  it('a TOTP user signing in with a passkey is not asked for a code; with a password the passkey completes the second factor', async () => {
    const carol = await signUp(c, 'pk-carol');
    await enrollTotp(carol.browser);
    const { auth } = await register(carol.browser, 'Key');

    const { b, res } = await passkeySignIn(auth);
    expect(res.statusCode, res.body).toBe(200);
    expect((await b.get('/v1/projects')).statusCode).toBe(200);

    const { browser: pending, body } = await logIn(c, carol.email, carol.password);
    expect(body.twoFactorRequired).toBe(true);
    expect((await pending.get('/v1/projects')).statusCode).toBe(401);
    const o = await pending.post('/v1/auth/passkeys/second-factor/options');
    expect(o.statusCode, o.body).toBe(200);
    const options = o.json<Options & { allowCredentials: { id: string }[] }>();
    expect(options.allowCredentials.map((x) => x.id)).toEqual([auth.credentialId]);

    // Alice's passkey is refused for Carol's second factor.
    const alicesAnswer = await pending.post('/v1/auth/passkeys/second-factor/verify', {
      response: aliceKey.assert(options as never),
    });
    expect(alicesAnswer.statusCode).toBe(401);

    const o2 = (await pending.post('/v1/auth/passkeys/second-factor/options')).json<Options>();
    const before = pending.cookie;
    const done = await pending.post('/v1/auth/passkeys/second-factor/verify', {
      response: auth.assert(o2),
    });
    expect(done.statusCode, done.body).toBe(200);
    expect(done.json()).toEqual({ method: 'passkey' });
    expect(pending.cookie).not.toBe(before);
    // The sign-in is complete only now: the device cookie comes with it, for the password route.
    const device = ([done.headers['set-cookie']].flat() as string[]).find((l) => l.startsWith('sr_device='));
    expect(device).toMatch(/; Path=\/v1\/auth\/login(;|$)/);
    expect((await pending.get('/v1/projects')).statusCode).toBe(200);
  });

  it('a removed passkey no longer signs in', async () => {
    const del = await alice.browser.delete(`/v1/auth/passkeys/${alicePasskeyId}`);
    expect(del.statusCode).toBe(204);
    const { res } = await passkeySignIn(aliceKey);
    expect(res.statusCode).toBe(401);
    expect((await alice.browser.get('/v1/auth/passkeys')).json()).toEqual({ data: [], nextCursor: null });
  });

  it('an account whose address is unproven cannot add a passkey (it would outlive the owner proving it)', async () => {
    const email = uniqueEmail('passkey-unproven');
    const password = rememberSecret(`Pw-${randomBytes(12).toString('base64url')}-e2e`);
    await c.services.auth.registerUser({ email, password }, { createPersonalOrganization: true });
    const b = new Browser(c);
    expect((await b.post('/v1/auth/login', { email, password })).statusCode).toBe(200);
    const opts = await b.post('/v1/auth/passkeys/registration/options');
    expect(opts.statusCode, opts.body).toBe(403);
    expect(opts.json()).toMatchObject({ error: { code: 'PASSKEY_EMAIL_UNVERIFIED' } });
    const verify = await b.post('/v1/auth/passkeys/registration/verify', {
      response: {
        id: 'eA',
        rawId: 'eA',
        type: 'public-key',
        response: { clientDataJSON: 'eA', attestationObject: 'eA' },
        clientExtensionResults: {},
      },
      name: 'Laptop',
    });
    expect(verify.statusCode, verify.body).toBe(403);
  });
});
