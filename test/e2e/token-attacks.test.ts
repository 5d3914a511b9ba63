import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { importJWK, SignJWT } from 'jose';
import { testJwtKey } from '../../src/modules/tokens/tokens.test-support.js';
import {
  api,
  createOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  type E2eApp,
  type User,
} from './helpers.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const parts = (jwt: string) => jwt.split('.') as [string, string, string];
const decode = (part: string) =>
  JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;

describe('e2e: token attacks over HTTP', () => {
  let c: E2eApp;
  let alice: User;
  let other: { id: string };
  let pair: { accessToken: string; refreshToken: string };
  const refresh = (refreshToken: string) =>
    c.app.inject({ method: 'POST', url: '/v1/auth/token/refresh', payload: { refreshToken } });
  const expect401 = async (token: string, code = 'TOKEN_INVALID') => {
    const res = await api(c, token).get('/v1/projects');
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ error: { code } });
  };

  beforeAll(async () => {
    c = await startApp();
    alice = await signUp(c, 'alice');
    other = await createOrg((await signUp(c, 'bob')).browser, 'other');
    pair = await tokenPair(alice.browser, alice.personalOrgId);
    expect((await api(c, pair.accessToken).get('/v1/projects')).statusCode).toBe(200);
  });
  afterAll(() => stopApp(c));

  it('an expired access token is refused', async () => {
    const { exp } = decode(parts(pair.accessToken)[1]);
    vi.useFakeTimers({ toFake: ['Date'], now: (Number(exp) + 60) * 1000 });
    try {
      await expect401(pair.accessToken, 'TOKEN_EXPIRED');
    } finally {
      vi.useRealTimers();
    }
    expect((await api(c, pair.accessToken).get('/v1/projects')).statusCode).toBe(200);
  });

  it('a token signed by a key the server does not know (wrong kid, or the right kid) is refused', async () => {
    const [header, payload] = parts(pair.accessToken);
    const claims = decode(payload);
    const foreign = await testJwtKey();
    const key = await importJWK(foreign.privateJwk, 'EdDSA');
    const sign = (kid: string) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(key);
    await expect401(await sign(foreign.kid));
    await expect401(await sign(String(decode(header).kid)));
  });

  it('alg: none (and HS256 with the public key) is refused', async () => {
    const [header, payload] = parts(pair.accessToken);
    const h = decode(header);
    await expect401(`${b64({ ...h, alg: 'none' })}.${payload}.`);
    await expect401(`${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`);
    const jwks = (await c.app.inject({ url: '/.well-known/jwks.json' })).json<{ keys: { x: string }[] }>();
    const hs = await new SignJWT(decode(payload))
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: String(h.kid) })
      .sign(Buffer.from(jwks.keys[0]!.x));
    await expect401(hs);
  });

  it('a tampered org claim is refused (and never selects the other organization)', async () => {
    const [header, payload, signature] = parts(pair.accessToken);
    const tampered = `${header}.${b64({ ...decode(payload), org: other.id })}.${signature}`;
    await expect401(tampered);
    const res = await api(c, tampered).get('/v1/organization');
    expect(res.statusCode).toBe(401);
    expect(res.body).not.toContain(other.id);
    // Same for the role claim.
    await expect401(`${header}.${b64({ ...decode(payload), role: 'owner', pv: 99 })}.${signature}`);
  });

  it('a reused refresh token is refused and revokes its whole family', async () => {
    const fresh = await tokenPair(alice.browser, alice.personalOrgId);
    const first = await refresh(fresh.refreshToken);
    expect(first.statusCode, first.body).toBe(200);
    const rotated = first.json<{ accessToken: string; refreshToken: string }>();
    rememberSecret(rotated.refreshToken);

    const reuse = await refresh(fresh.refreshToken);
    expect(reuse.statusCode).toBe(401);
    expect(reuse.json()).toMatchObject({ error: { code: 'TOKEN_REUSED' } });
    // The family is revoked: the rotated token is dead too.
    const next = await refresh(rotated.refreshToken);
    expect(next.statusCode).toBe(401);
    expect(next.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
    // Garbage and unknown tokens get the same answer.
    for (const t of ['x', 'A'.repeat(43), `${rotated.refreshToken}x`]) {
      const r = await refresh(t);
      expect(r.statusCode).toBe(401);
      expect(r.json()).toMatchObject({ error: { code: 'TOKEN_INVALID' } });
    }
    // Another session's family is untouched.
    expect((await refresh(pair.refreshToken)).statusCode).toBe(200);
  });

  it('a bearer token can neither mint tokens, switch a session nor enrol a second factor', async () => {
    const bearer = api(c, pair.accessToken);
    expect((await bearer.get('/v1/projects')).statusCode).toBe(200);
    const mint = await bearer.post('/v1/auth/token', { organizationId: alice.personalOrgId });
    expect(mint.statusCode).toBe(403);
    const sw = await bearer.post('/v1/session/switch', { organization: alice.personalOrgId });
    expect(sw.statusCode).toBe(403);
    // A leaked access token must not put the thief's authenticator app on the account.
    for (const url of ['/v1/auth/two-factor/enroll', '/v1/auth/two-factor/enroll/confirm']) {
      const res = await bearer.post(url, url.endsWith('confirm') ? { code: '123456' } : {});
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'TWO_FACTOR_SESSION_REQUIRED' } });
    }
    const me = await alice.browser.get('/v1/auth/me');
    expect(me.json()).toMatchObject({ user: { twoFactorEnabled: false } });
  });
});
