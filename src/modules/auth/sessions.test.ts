import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../platform/ids.js';
import {
  buildAuthHarness,
  freshEmail,
  GOOD_PASSWORD,
  ORIGIN,
  PUBLIC_URL,
  sessionCookieOf,
  signUpAndVerify,
  type AuthHarness,
} from './auth.test-helpers.js';
import { hashToken } from './tokens.js';

async function register(h: AuthHarness) {
  const u = await signUpAndVerify(h, { email: freshEmail('sess') });
  return { email: u.email, userId: u.userId, orgId: u.orgId, token: u.token, res: u.res };
}
const cookie = (token: string) => ({ cookie: `sr_session=${token}` });

describe('sessions (no resolve cache)', () => {
  let h: AuthHarness;
  beforeAll(async () => {
    h = await buildAuthHarness({ sessions: { cacheTtlMs: 0 } });
  });
  afterAll(async () => {
    await h.close();
  });
  const me = (token: string) => h.app.inject({ url: '/v1/auth/me', headers: cookie(token) });
  const login = async (email: string) =>
    sessionCookieOf(
      await h.app.inject({
        method: 'POST',
        url: '/v1/auth/login',
        payload: { email, password: GOOD_PASSWORD },
      }),
    )!;

  it('sets sr_session HttpOnly; Secure; SameSite=Lax; Path=/ and stores only the SHA-256 of the token', async () => {
    const u = await register(h);
    const header = u.res.headers['set-cookie'] as string;
    expect(header).toMatch(
      /^sr_session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    const maxAge = Number(/Max-Age=(\d+)/.exec(header)![1]);
    expect(maxAge).toBeGreaterThan(30 * 86400 - 60);
    expect(maxAge).toBeLessThanOrEqual(30 * 86400);
    const { rows } = await h.admin.query<{ token_hash: Buffer; idle: number; abs: number }>(
      `select token_hash, extract(epoch from idle_expires_at - created_at)::int as idle,
              extract(epoch from absolute_expires_at - created_at)::int as abs from sessions where user_id = $1`,
      [u.userId],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash.equals(hashToken(u.token))).toBe(true);
    expect(Math.abs(rows[0]!.idle - 7 * 86400)).toBeLessThan(5);
    expect(Math.abs(rows[0]!.abs - 30 * 86400)).toBeLessThan(5);
  });

  it('omits Secure only when the service is told to (plain-http localhost development)', async () => {
    const insecure = await buildAuthHarness({ sessions: { secureCookies: false } });
    try {
      const { res } = await signUpAndVerify(insecure, { email: freshEmail('dev') });
      expect(res.headers['set-cookie']).toMatch(/; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(res.headers['set-cookie']).not.toMatch(/Secure/);
    } finally {
      await insecure.close();
    }
  });

  it('rejects malformed, unknown and missing cookies with 401', async () => {
    for (const headers of [{}, cookie('nope'), cookie('A'.repeat(43)), { cookie: 'other=1' }]) {
      const res = await h.app.inject({ url: '/v1/auth/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'authentication required' } });
    }
  });

  it('idle expiry ends a session', async () => {
    const u = await register(h);
    expect((await me(u.token)).statusCode).toBe(200);
    await h.admin.query(
      `update sessions set idle_expires_at = now() - interval '1 second' where user_id = $1`,
      [u.userId],
    );
    expect((await me(u.token)).statusCode).toBe(401);
  });

  it('absolute expiry ends a session even while it is in use', async () => {
    const u = await register(h);
    await h.admin.query(
      `update sessions set absolute_expires_at = now() - interval '1 second', last_seen_at = now() - interval '1 hour'
        where user_id = $1`,
      [u.userId],
    );
    expect((await me(u.token)).statusCode).toBe(401);
  });

  it('slides the idle expiry at most once a minute, never past the absolute expiry', async () => {
    const u = await register(h);
    const read = async () =>
      (
        await h.admin.query<{ last_seen_at: Date; idle_expires_at: Date; absolute_expires_at: Date }>(
          'select last_seen_at, idle_expires_at, absolute_expires_at from sessions where user_id = $1',
          [u.userId],
        )
      ).rows[0]!;
    const fresh = await read();
    await me(u.token);
    expect((await read()).idle_expires_at).toEqual(fresh.idle_expires_at); // seen < 1 min ago: no write

    await h.admin.query(
      `update sessions set last_seen_at = now() - interval '2 minutes', idle_expires_at = now() + interval '1 minute'
        where user_id = $1`,
      [u.userId],
    );
    await me(u.token);
    const slid = await read();
    expect(slid.idle_expires_at.getTime() - Date.now()).toBeGreaterThan(7 * 86400_000 - 60_000);
    expect(Date.now() - slid.last_seen_at.getTime()).toBeLessThan(60_000);

    await h.admin.query(
      `update sessions set last_seen_at = now() - interval '2 minutes', absolute_expires_at = now() + interval '1 hour'
        where user_id = $1`,
      [u.userId],
    );
    await me(u.token);
    const capped = await read();
    expect(capped.idle_expires_at).toEqual(capped.absolute_expires_at);
  });

  it('lists the user’s live sessions, newest first, marks the current one, paginates', async () => {
    const u = await register(h);
    const second = await login(u.email);
    const third = await login(u.email);
    await h.admin.query(`update sessions set revoked_at = now() where token_hash = $1`, [hashToken(second)]);
    const list = await h.app.inject({ url: '/v1/auth/sessions', headers: cookie(third) });
    const body = list.json<{
      data: { id: string; current: boolean; expiresAt: string }[];
      nextCursor: string | null;
    }>();
    expect(body.data).toHaveLength(2);
    expect(body.data.map((s) => s.current)).toEqual([true, false]);
    expect(body.nextCursor).toBeNull();

    const page1 = await h.app.inject({ url: '/v1/auth/sessions?limit=1', headers: cookie(third) });
    const p1 = page1.json<{ data: { id: string }[]; nextCursor: string }>();
    expect(p1.data[0]!.id).toBe(body.data[0]!.id);
    const page2 = await h.app.inject({
      url: `/v1/auth/sessions?limit=1&cursor=${encodeURIComponent(p1.nextCursor)}`,
      headers: cookie(third),
    });
    expect(page2.json()).toMatchObject({
      data: [{ id: body.data[1]!.id, current: false }],
      nextCursor: null,
    });
    const bad = await h.app.inject({ url: '/v1/auth/sessions?cursor=zzz', headers: cookie(third) });
    expect(bad.json()).toMatchObject({ error: { code: 'INVALID_CURSOR' } });
  });

  it('revokes one of my sessions; another user’s session answers 404 like a missing one', async () => {
    const a = await register(h);
    const aOther = await login(a.email);
    const b = await register(h);
    const list = await h.app.inject({ url: '/v1/auth/sessions', headers: cookie(a.token) });
    const otherId = list
      .json<{ data: { id: string; current: boolean }[] }>()
      .data.find((s) => !s.current)!.id;
    const bId = (await h.sessions.resolve(b.token))!.session.id;

    const del = (id: string) =>
      h.app.inject({
        method: 'DELETE',
        url: `/v1/auth/sessions/${id}`,
        headers: { ...cookie(a.token), ...ORIGIN },
      });
    const foreign = await del(bId);
    const missing = await del(uuidv7());
    const malformed = await del('not-a-uuid');
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).toBe(missing.body);
    expect(foreign.body).toBe(malformed.body);
    expect(foreign.json()).toEqual({
      error: { code: 'AUTH_SESSION_NOT_FOUND', message: 'session not found' },
    });
    expect((await me(b.token)).statusCode).toBe(200);

    const ok = await del(otherId);
    expect(ok.statusCode).toBe(204);
    expect(ok.headers['set-cookie']).toBeUndefined();
    expect((await me(aOther)).statusCode).toBe(401);
    expect((await me(a.token)).statusCode).toBe(200);
    expect((await del(otherId)).statusCode).toBe(404);
  });

  it('logout revokes the session and clears the cookie', async () => {
    const u = await register(h);
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { ...cookie(u.token), ...ORIGIN },
    });
    expect(res.statusCode).toBe(204);
    expect(res.headers['set-cookie']).toBe('sr_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax');
    expect((await me(u.token)).statusCode).toBe(401);
    const again = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { ...cookie(u.token), ...ORIGIN },
    });
    expect(again.statusCode).toBe(401);
  });

  it('CSRF: a cookie-authenticated change needs an allowed Origin (or Referer)', async () => {
    const u = await register(h);
    const logout = (headers: Record<string, string>) =>
      h.app.inject({ method: 'POST', url: '/v1/auth/logout', headers: { ...cookie(u.token), ...headers } });
    const attempts: Record<string, string>[] = [
      {},
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { referer: 'https://evil.example/x' },
      { origin: `${PUBLIC_URL}.evil.example` },
    ];
    for (const headers of attempts) {
      const res = await logout(headers);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({
        error: {
          code: 'CSRF_ORIGIN_MISMATCH',
          message: 'the request origin is not allowed for a cookie-authenticated change',
        },
      });
    }
    expect((await me(u.token)).statusCode).toBe(200); // nothing happened
    expect((await logout({ referer: `${PUBLIC_URL}/settings/security` })).statusCode).toBe(204);
  });
});
