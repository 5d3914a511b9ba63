import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg } from '../../../test/support/tenancy.js';
import {
  buildAuthHarness,
  clientAddresses,
  freshEmail,
  oneRow,
  GOOD_PASSWORD,
  ORIGIN,
  sessionCookieOf,
  signUpAndVerify,
  type AuthHarness,
} from './auth.test-helpers.js';
import { createPasswordHasher } from './passwords.js';

describe('POST /v1/auth/login', () => {
  let h: AuthHarness;
  /** A fresh client address per test, so the per-address throttle of one test does not touch another. */
  const newIp = clientAddresses(0);

  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function register(email = freshEmail('login')) {
    const u = await signUpAndVerify(h, { email });
    return { email, userId: u.userId, orgId: u.orgId, cookie: u.token };
  }
  const login = (
    email: string,
    password: string,
    opts: { ip?: string; headers?: Record<string, string> } = {},
  ) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      remoteAddress: opts.ip ?? newIp(),
      headers: opts.headers,
      payload: { email, password },
    });

  it('signs in with a fresh session token every time and revokes the session the browser still presented', async () => {
    const u = await register();
    const res = await login(` ${u.email.toUpperCase()} `, GOOD_PASSWORD, {
      headers: { cookie: `sr_session=${u.cookie}` },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      twoFactorRequired: false,
      user: {
        id: u.userId,
        email: u.email,
        name: null,
        emailVerified: true,
        twoFactorEnabled: false,
        isPlatformAdmin: false,
      },
      currentOrganizationId: u.orgId,
    });
    const token = sessionCookieOf(res)!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(token).not.toBe(u.cookie);
    const again = sessionCookieOf(await login(u.email, GOOD_PASSWORD))!;
    expect(again).not.toBe(token);
    expect(
      (await h.app.inject({ url: '/v1/auth/me', headers: { cookie: `sr_session=${token}` } })).statusCode,
    ).toBe(200);
    expect(
      (await h.app.inject({ url: '/v1/auth/me', headers: { cookie: `sr_session=${u.cookie}` } })).statusCode,
    ).toBe(401);
  });

  it('answers unknown email and wrong password identically, with similar timing', async () => {
    const u = await register();
    const unknown = await login(freshEmail('nobody'), GOOD_PASSWORD);
    const wrong = await login(u.email, 'not the right password');
    expect(unknown.statusCode).toBe(401);
    expect(wrong.statusCode).toBe(401);
    expect(unknown.body).toBe(wrong.body);
    expect(unknown.json()).toEqual({
      error: { code: 'AUTH_INVALID_CREDENTIALS', message: 'email or password is incorrect' },
    });
    expect(sessionCookieOf(unknown)).toBeUndefined();
    expect(sessionCookieOf(wrong)).toBeUndefined();

    const time = async (email: string) => {
      const t0 = performance.now();
      await login(email, 'not the right password');
      return performance.now() - t0;
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const accounts = [await register(), await register()];
    const known: number[] = [];
    const absent: number[] = [];
    // Both paths run one argon2 verification (the unknown one against a dummy hash)…
    const hasher = createPasswordHasher();
    await hasher.verifyDummy('warm up: the dummy hash is computed once');
    // …timed in the same loop as the logins, so a burst of load on the shared machine slows both alike.
    const runs: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t0 = performance.now();
      await hasher.verifyDummy('not the right password');
      runs.push(performance.now() - t0);
      // 4 wrong attempts per account stay under the per-account throttle; alternate which goes first.
      const email = accounts[i % 2]!.email;
      if (i % 2) {
        known.push(await time(email));
        absent.push(await time(freshEmail('ghost')));
      } else {
        absent.push(await time(freshEmail('ghost')));
        known.push(await time(email));
      }
    }
    // The fastest verification: load only ever makes a login slower than this.
    const argon2 = Math.min(...runs);
    expect(median(absent)).toBeGreaterThan(argon2 * 0.5);
    expect(median(known)).toBeGreaterThan(argon2 * 0.5);
    // …so their times are of the same order (a loose bound: the test machine is shared and noisy).
    const ratio = median(known) / median(absent);
    // Without the dummy verification an unknown email answers ~40x faster; noise stays well inside 5x.
    expect(ratio).toBeGreaterThan(1 / 5);
    expect(ratio).toBeLessThan(5);
  });

  it('throttles one account from one address after 5 failures with 429 and Retry-After; the owner, from another address, still signs in', async () => {
    const u = await register();
    const stranger = newIp();
    for (let i = 0; i < 5; i++) {
      expect((await login(u.email, `wrong password ${i}`, { ip: stranger })).statusCode).toBe(401);
    }
    const blocked = await login(u.email, GOOD_PASSWORD, { ip: stranger });
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(800);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // The stranger's failures do not lock the owner out: their own address has its own budget.
    expect((await login(u.email, GOOD_PASSWORD)).statusCode).toBe(200);
    // Same answer for an unknown account at its limit: the throttle does not reveal who exists.
    const ghost = freshEmail('ghost');
    const ghostIp = newIp();
    for (let i = 0; i < 5; i++) await login(ghost, 'whatever it is', { ip: ghostIp });
    const ghostBlocked = await login(ghost, 'whatever it is', { ip: ghostIp });
    expect(ghostBlocked.statusCode).toBe(429);
    const pick = (r: typeof blocked) => {
      const { code, message } = r.json<{ error: { code: string; message: string } }>().error;
      return { code, message };
    };
    expect(pick(ghostBlocked)).toEqual(pick(blocked));
  });

  it('an IPv6 client rotating addresses inside its /64 shares one budget per account', async () => {
    const u = await register();
    for (let i = 0; i < 5; i++) {
      const ip = `2001:db8:77:1::${i + 1}`;
      expect((await login(u.email, `wrong password ${i}`, { ip })).statusCode).toBe(401);
    }
    expect((await login(u.email, GOOD_PASSWORD, { ip: '2001:db8:77:1::ffff' })).statusCode).toBe(429);
    expect((await login(u.email, GOOD_PASSWORD, { ip: '2001:db8:77:2::1' })).statusCode).toBe(200);
  });

  it('caps one account at 100 failures across every address (distributed guessing)', async () => {
    const u = await register();
    // 25 addresses, 4 failures each: no address reaches its own budget of 5 for the account.
    for (let a = 0; a < 25; a++) {
      const ip = newIp();
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, i) => login(u.email, `spread guess ${a}.${i}`, { ip })),
      );
      expect(results.map((r) => r.statusCode)).toEqual([401, 401, 401, 401]);
    }
    const blocked = await login(u.email, GOOD_PASSWORD);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('a success clears the account counter of its address', async () => {
    const u = await register();
    const ip = newIp();
    for (let i = 0; i < 4; i++) await login(u.email, 'wrong password x', { ip });
    expect((await login(u.email, GOOD_PASSWORD, { ip })).statusCode).toBe(200);
    for (let i = 0; i < 4; i++)
      expect((await login(u.email, 'wrong password y', { ip })).statusCode).toBe(401);
  });

  it('throttles one address after 20 failures, and X-Forwarded-For (not trusted) does not dodge it', async () => {
    const ip = newIp();
    for (let i = 0; i < 20; i++) {
      const res = await login(freshEmail('spray'), 'some password 123', {
        ip,
        headers: { 'x-forwarded-for': `203.0.113.${i + 1}` },
      });
      expect(res.statusCode).toBe(401);
    }
    const blocked = await login(freshEmail('spray'), 'some password 123', {
      ip,
      headers: { 'x-forwarded-for': '198.51.100.77' },
    });
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await login(freshEmail('spray'), 'some password 123')).statusCode).toBe(401);
  });

  it('counts an IPv6 client by its /64 and an IPv4-mapped address as the IPv4 one (no dodging by rotation)', async () => {
    const net = `2001:db8:${randomBytes(2).toString('hex')}:1`;
    for (let i = 0; i < 20; i++) {
      const res = await login(freshEmail('v6'), 'some password 123', {
        ip: `${net}::${(i + 1).toString(16)}`,
      });
      expect(res.statusCode).toBe(401);
    }
    const rotated = await login(freshEmail('v6'), 'some password 123', { ip: `${net}:dead:beef:0:77` });
    expect(rotated.statusCode).toBe(429);
    expect((await login(freshEmail('v6'), 'some password 123', { ip: `${net}1::1` })).statusCode).toBe(401);

    const v4 = `198.51.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;
    for (let i = 0; i < 20; i++) {
      const ip = i % 2 ? v4 : `::ffff:${v4}`;
      expect((await login(freshEmail('v4'), 'some password 123', { ip })).statusCode).toBe(401);
    }
    expect((await login(freshEmail('v4'), 'some password 123', { ip: v4 })).statusCode).toBe(429);
  });

  it('starts in the last organization if still an active member there, else the first active one', async () => {
    const u = await register();
    const other = await createTestOrg(h.tenancy, 'aaa-login');
    await h.tenancy.withTenant(other, (db) =>
      db
        .insertInto('memberships')
        .values({ organization_id: other, user_id: u.userId, role: 'member', status: 'active' })
        .execute(),
    );
    await h.admin.query('update users set last_organization_id = $1 where id = $2', [other, u.userId]);
    expect((await login(u.email, GOOD_PASSWORD)).json()).toMatchObject({ currentOrganizationId: other });

    await h.tenancy.withTenant(other, (db) =>
      db
        .updateTable('memberships')
        .set({ status: 'pending' })
        .where('organization_id', '=', other)
        .where('user_id', '=', u.userId)
        .execute(),
    );
    expect((await login(u.email, GOOD_PASSWORD)).json()).toMatchObject({ currentOrganizationId: u.orgId });

    await h.tenancy.withTenant(u.orgId, (db) =>
      db
        .deleteFrom('memberships')
        .where('organization_id', '=', u.orgId)
        .where('user_id', '=', u.userId)
        .execute(),
    );
    expect((await login(u.email, GOOD_PASSWORD)).json()).toMatchObject({ currentOrganizationId: null });
  });

  it('GET /me after leaving the session’s organization names another membership, then none', async () => {
    const u = await register();
    const other = await createTestOrg(h.tenancy, 'leave');
    await h.admin.query(
      `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'member', 'active')`,
      [other, u.userId],
    );
    const sessionId = (await h.sessions.resolve(u.cookie))!.session.id;
    const { token } = await h.sessions.setCurrentOrganization(sessionId, other, u.cookie);
    const me = () => h.app.inject({ url: '/v1/auth/me', headers: { cookie: `sr_session=${token}` } });
    expect((await me()).json()).toMatchObject({ currentOrganizationId: other });
    await h.admin.query('delete from memberships where organization_id = $1 and user_id = $2', [
      other,
      u.userId,
    ]);
    expect((await me()).json()).toMatchObject({ currentOrganizationId: u.orgId });
    // The session itself moved: tenant requests act there too.
    expect((await h.sessions.resolve(token))!.session.currentOrganizationId).toBe(u.orgId);
    await h.admin.query('delete from memberships where organization_id = $1 and user_id = $2', [
      u.orgId,
      u.userId,
    ]);
    expect((await me()).json()).toMatchObject({ currentOrganizationId: null });
  });

  it('with TOTP enabled, the session waits for the second factor', async () => {
    const u = await register();
    await h.admin.query('update users set totp_enabled_at = now() where id = $1', [u.userId]);
    const res = await login(u.email, GOOD_PASSWORD);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ twoFactorRequired: true });
    const token = sessionCookieOf(res)!;
    const me = await h.app.inject({ url: '/v1/auth/me', headers: { cookie: `sr_session=${token}` } });
    expect(me.statusCode).toBe(401);
    const row = await oneRow<{ two_factor_verified: boolean }>(
      h.admin,
      'select two_factor_verified from sessions where user_id = $1 order by id desc limit 1',
      [u.userId],
    );
    expect(row.two_factor_verified).toBe(false);

    const resolved = await h.sessions.resolve(token);
    const verified = await h.sessions.markTwoFactorVerified(resolved!.session.id);
    expect(verified?.session.twoFactorVerified).toBe(true);
    expect(await h.sessions.resolve(token)).toBeNull(); // rotated: the pre-2FA token is dead
    const after = await h.app.inject({
      url: '/v1/auth/me',
      headers: { cookie: `sr_session=${verified!.token}` },
    });
    expect(after.json()).toMatchObject({ user: { id: u.userId, twoFactorEnabled: true } });
  });

  it('refuses a login form posted from a foreign origin (login CSRF) but accepts the app origin', async () => {
    const u = await register();
    const foreign = await login(u.email, GOOD_PASSWORD, { headers: { origin: 'https://evil.example' } });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json()).toMatchObject({ error: { code: 'CSRF_ORIGIN_MISMATCH' } });
    expect((await login(u.email, GOOD_PASSWORD, { headers: ORIGIN })).statusCode).toBe(200);
  });
});
