import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type LogLines } from '../../../test/support/app.js';
import type { Composition } from '../../app/compose.js';
import { normalizeDisplayName } from './profile.js';
import {
  buildAuthHarness,
  freshEmail,
  ORIGIN,
  signUpAndVerify,
  type AuthHarness,
  type SignedUpUser,
} from './auth.test-helpers.js';

const cookie = (token: string) => ({ cookie: `sr_session=${token}` });

describe('PATCH /v1/auth/me (display name)', () => {
  let h: AuthHarness;
  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const patch = (u: SignedUpUser, payload: unknown, headers: Record<string, string> = ORIGIN) =>
    h.app.inject({
      method: 'PATCH',
      url: '/v1/auth/me',
      headers: { ...cookie(u.token), ...headers },
      payload: payload as Record<string, unknown>,
    });
  const me = (u: SignedUpUser) => h.app.inject({ url: '/v1/auth/me', headers: cookie(u.token) });
  const storedName = async (userId: string) =>
    (await h.admin.query<{ name: string | null }>('select name from users where id = $1', [userId])).rows[0]!
      .name;

  it('a new user has no name; setting one answers like me (trimmed), clearing it with null', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('profile') });
    const before = await me(u);
    expect(before.json()).toMatchObject({ user: { id: u.userId, name: null } });

    const set = await patch(u, { name: '  Ada Lovelace ' });
    expect(set.statusCode, set.body).toBe(200);
    const was = before.json<{ user: Record<string, unknown>; currentOrganizationId: string | null }>();
    expect(set.json()).toEqual({ ...was, user: { ...was.user, name: 'Ada Lovelace' } });
    expect(await storedName(u.userId)).toBe('Ada Lovelace');
    expect((await me(u)).json()).toMatchObject({ user: { name: 'Ada Lovelace' } });

    // 100 characters (code points, an astral one included) is the most.
    const longest = `😀${'x'.repeat(99)}`;
    expect((await patch(u, { name: longest })).json()).toMatchObject({ user: { name: longest } });

    const cleared = await patch(u, { name: null });
    expect(cleared.statusCode).toBe(200);
    expect(cleared.json()).toMatchObject({ user: { name: null } });
    expect(await storedName(u.userId)).toBeNull();
  });

  it('refuses a name too long, blank, empty, with control characters, or a body without it', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('profile-bad') });
    await patch(u, { name: 'Kept' });
    const cases: [unknown, string][] = [
      [{ name: 'x'.repeat(101) }, 'body.name must NOT have more than 100 characters'],
      [{ name: '   ' }, 'body.name must not be blank'],
      [{ name: '' }, 'body.name must NOT have fewer than 1 characters'],
      [{ name: 'Ada\nLovelace' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'Ada\u0007' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'Ada\u009b' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'Ada\u007f' }, 'body.name must not contain control or invisible characters'],
      // Invisible and direction-changing characters: a name shown to others must read as what it is.
      [{ name: 'Ada \u202egnp.exe' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'A\u200bda' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'Ada\u2066x\u2069' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'Ada\u2028Lovelace' }, 'body.name must not contain control or invisible characters'],
      [{ name: 'A\ufeffda' }, 'body.name must not contain control or invisible characters'],
      [{ name: 42 }, 'body.name must be string'],
      [{}, 'body.name'],
      [{ name: 'Ada', email: 'other@example.com' }, 'body.email'],
    ];
    for (const [payload, message] of cases) {
      const res = await patch(u, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      const body = res.json<{ error: { code: string; message: string; details: { fields: unknown[] } } }>();
      expect(body.error.code).toBe('VALIDATION_FAILED');
      expect(
        body.error.message.startsWith(message),
        `${JSON.stringify(payload)}: ${body.error.message}`,
      ).toBe(true);
      expect(body.error.details.fields[0]).toMatchObject({ field: message.split(' ')[0] });
    }
    expect(await storedName(u.userId)).toBe('Kept');
  });

  it("changes only the caller's own name", async () => {
    const a = await signUpAndVerify(h, { email: freshEmail('profile-a') });
    const b = await signUpAndVerify(h, { email: freshEmail('profile-b') });
    await patch(b, { name: 'Bea' });
    expect((await patch(a, { name: 'Alice' })).statusCode).toBe(200);
    expect(await storedName(a.userId)).toBe('Alice');
    expect(await storedName(b.userId)).toBe('Bea');
    expect((await me(b)).json()).toMatchObject({ user: { name: 'Bea' } });
  });

  it('the column refuses what the API refuses, whoever writes it', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('profile-db') });
    for (const bad of [
      '',
      ' padded ',
      'tab\there',
      'x'.repeat(101),
      'c1\u0085',
      'rlo\u202e',
      'zw\u200b',
      'iso\u2067',
    ]) {
      await expect(
        h.admin.query('update users set name = $1 where id = $2', [bad, u.userId]),
        JSON.stringify(bad),
      ).rejects.toThrow(/users_name_check/);
    }
    await h.admin.query('update users set name = $1 where id = $2', ['Fine name', u.userId]);
  });

  it('CSRF: a cookie call needs an allowed Origin (or Referer); without a session it is 401', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('profile-csrf') });
    const forged: Record<string, string>[] = [
      {},
      { origin: 'https://evil.example' },
      { referer: 'https://evil.example/x' },
    ];
    for (const headers of forged) {
      const res = await patch(u, { name: 'Forged' }, headers);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'CSRF_ORIGIN_MISMATCH' } });
    }
    expect(await storedName(u.userId)).toBeNull();
    const anonymous = await h.app.inject({
      method: 'PATCH',
      url: '/v1/auth/me',
      headers: ORIGIN,
      payload: { name: 'Nobody' },
    });
    expect(anonymous.statusCode).toBe(401);
  });

  it('normalizeDisplayName: trims, keeps inner spaces and non-Latin text, null clears', () => {
    expect(normalizeDisplayName('\u00a0 Zoë  Ōtsuka\u3000')).toBe('Zoë  Ōtsuka');
    expect(normalizeDisplayName('李小龍')).toBe('李小龍');
    expect(normalizeDisplayName(null)).toBeNull();
    expect(() => normalizeDisplayName('\u3000')).toThrow(/must not be blank/);
  });
});

describe('PATCH /v1/auth/me with an API access token (the real composition)', () => {
  let c: Composition & { logs: LogLines };
  beforeAll(async () => {
    c = await buildTestApp();
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('a bearer token sets the name of its own user, like me reads it', async () => {
    const origin = { origin: 'http://app.saasready.test' };
    const u = await signUpAndVerify({ app: c.app, auth: c.services.auth }, { headers: origin });
    const minted = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { ...cookie(u.token), ...origin },
      payload: { organizationId: u.orgId },
    });
    expect(minted.statusCode, minted.body).toBe(200);
    const bearer = { authorization: `Bearer ${minted.json<{ accessToken: string }>().accessToken}` };
    const res = await c.app.inject({
      method: 'PATCH',
      url: '/v1/auth/me',
      headers: bearer,
      payload: { name: 'Token Holder' },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ user: { id: u.userId, name: 'Token Holder' } });
    const me = await c.app.inject({ url: '/v1/auth/me', headers: cookie(u.token) });
    expect(me.json()).toMatchObject({ user: { name: 'Token Holder' } });
  });
});
