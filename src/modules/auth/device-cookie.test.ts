import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildAuthHarness,
  clientAddresses,
  DEVICE_KEK,
  GOOD_PASSWORD,
  ORIGIN,
  signUpAndVerify,
  type AuthHarness,
} from './auth.test-helpers.js';
import { createDeviceCookies, deviceCookieHeader, DEVICE_COOKIE_TTL_SECONDS } from './device-cookie.js';

describe('device cookies (codec)', () => {
  const user = randomUUID();
  const kek = randomBytes(32);
  /** The account's credentials generation (`credentials_changed_at`). */
  const gen = new Date(Date.UTC(2026, 0, 1, 12, 0, 0, 500));

  it('proves the device for the account it was issued for, and only for that one', () => {
    const devices = createDeviceCookies(kek);
    const value = devices.issue(user, gen);
    const proven = devices.verify(value, user, gen);
    expect(proven?.deviceId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(devices.verify(value, randomUUID(), gen)).toBeNull();
    // Issued again for a proven device: the same device id, a new issue time.
    expect(devices.verify(devices.issue(user, gen, proven!.deviceId), user, gen)).toEqual(proven);
  });

  it('refuses a forged, altered, malformed or foreign-key cookie', () => {
    const devices = createDeviceCookies(kek);
    const value = devices.issue(user, gen);
    const [id, at, g, mac] = value.split('.') as [string, string, string, string];
    expect(g).toBe(String(gen.getTime()));
    expect(
      devices.verify(`${randomBytes(16).toString('base64url')}.${at}.${g}.${mac}`, user, gen),
    ).toBeNull();
    expect(devices.verify(`${id}.${Number(at) + 1}.${g}.${mac}`, user, gen)).toBeNull();
    // The generation is inside the MAC: rewriting it to the account's new one proves nothing.
    const later = new Date(gen.getTime() + 1);
    expect(devices.verify(`${id}.${at}.${later.getTime()}.${mac}`, user, later)).toBeNull();
    expect(devices.verify(`${id}.${at}.${g}.${randomBytes(32).toString('base64url')}`, user, gen)).toBeNull();
    expect(devices.verify(createDeviceCookies(randomBytes(32)).issue(user, gen), user, gen)).toBeNull();
    // The format before the generation was bound (never released): malformed.
    expect(devices.verify(`${id}.${at}.${mac}`, user, gen)).toBeNull();
    for (const bad of ['', 'x', `${value}.x`, value.replace('.', ':'), null, undefined]) {
      expect(devices.verify(bad, user, gen)).toBeNull();
    }
  });

  it('expires 180 days after its issue, and a cookie issued in the future proves nothing', () => {
    let now = Date.now();
    const devices = createDeviceCookies(kek, () => now);
    const value = devices.issue(user, gen);
    now += (DEVICE_COOKIE_TTL_SECONDS - 60) * 1000;
    expect(devices.verify(value, user, gen)).not.toBeNull();
    now += 60_000;
    expect(devices.verify(value, user, gen)).toBeNull();
    const future = createDeviceCookies(kek, () => Date.now() + 3_600_000).issue(user, gen);
    expect(createDeviceCookies(kek).verify(future, user, gen)).toBeNull();
  });

  it("proves the device only while the account's credentials generation is the one it was issued for", () => {
    let now = gen.getTime() + 100;
    const devices = createDeviceCookies(kek, () => now);
    const value = devices.issue(user, gen);
    expect(devices.verify(value, user, gen)).not.toBeNull();
    // The credentials changed, whenever (in the same millisecond, second, or later): no proof, no clock
    // comparison.
    for (const changed of [1, 300, 5_000]) {
      expect(devices.verify(value, user, new Date(gen.getTime() + changed))).toBeNull();
    }
    // Nor for an older generation (a cookie is not valid "from" a time on, only for its own generation).
    expect(devices.verify(value, user, new Date(gen.getTime() - 1))).toBeNull();
    // A cookie issued before the change for the generation after it (a sign-in that read the new value)
    // proves the device; one issued after the change for the old value (a sign-in that read the row before
    // the change committed) does not.
    const next = new Date(now + 400);
    expect(devices.verify(devices.issue(user, next), user, next)).not.toBeNull();
    now += 60_000;
    expect(devices.verify(devices.issue(user, gen), user, next)).toBeNull();
  });

  it('is sent to the sign-in route as the browser addresses it, under a PUBLIC_URL path prefix too', () => {
    const path = (publicUrl: string) =>
      /Path=([^;]+)/.exec(deviceCookieHeader('v', { secure: true, publicUrl }))?.[1];
    expect(path('https://app.example.test')).toBe('/v1/auth/login');
    expect(path('https://example.test/app/')).toBe('/app/v1/auth/login');
    expect(deviceCookieHeader('v', { secure: false, publicUrl: 'http://localhost:3000' })).not.toMatch(
      /secure/i,
    );
  });
});

describe('POST /v1/auth/login with a device cookie', () => {
  let h: AuthHarness;
  const newIp = clientAddresses(11);

  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const login = (email: string, password: string, ip: string, device?: string) =>
    h.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      remoteAddress: ip,
      headers: { ...ORIGIN, ...(device ? { cookie: `sr_device=${device}` } : {}) },
      payload: { email, password },
    });
  const deviceLine = (res: { headers: Record<string, unknown> }) =>
    ([res.headers['set-cookie'] ?? []].flat() as string[]).find((l) => l.startsWith('sr_device='));
  const deviceOf = (res: { headers: Record<string, unknown> }) =>
    /^sr_device=([^;]+)/.exec(deviceLine(res)!)![1]!;

  /** 100 wrong guesses from 25 addresses, 4 each: the account-wide budget is spent. */
  async function flood(email: string) {
    for (let a = 0; a < 25; a++) {
      const ip = newIp();
      const results = await Promise.all(
        Array.from({ length: 4 }, (_, i) => login(email, `flood guess ${a}.${i}`, ip)),
      );
      expect(results.map((r) => r.statusCode)).toEqual([401, 401, 401, 401]);
    }
    expect((await login(email, GOOD_PASSWORD, newIp())).statusCode).toBe(429);
  }

  it('sets an HttpOnly, Secure, SameSite=Lax cookie for the sign-in route only, for 180 days', async () => {
    const u = await signUpAndVerify(h);
    const res = await login(u.email, GOOD_PASSWORD, newIp());
    expect(res.statusCode).toBe(200);
    const line = deviceLine(res)!;
    expect(line).toMatch(/^sr_device=[A-Za-z0-9_-]{22}\.\d+\.\d+\.[A-Za-z0-9_-]{43};/);
    const attributes = line
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase())
      .sort();
    expect(attributes).toEqual(
      ['httponly', 'max-age=15552000', 'path=/v1/auth/login', 'samesite=lax', 'secure'].sort(),
    );
    // The session cookie is set too, unchanged.
    expect([res.headers['set-cookie']].flat().some((l) => String(l).startsWith('sr_session='))).toBe(true);
    // A failed sign-in sets none.
    expect(deviceLine(await login(u.email, 'wrong password', newIp()))).toBeUndefined();
  });

  it("a proven device signs in through a stranger's flood; a forged, another account's or an expired cookie does not", async () => {
    const u = await signUpAndVerify(h);
    const other = await signUpAndVerify(h);
    const home = newIp();
    const device = deviceOf(await login(u.email, GOOD_PASSWORD, home));
    const otherDevice = deviceOf(await login(other.email, GOOD_PASSWORD, newIp()));
    await flood(u.email);

    const [id, at, gen] = device.split('.') as [string, string, string];
    const forged = `${id}.${at}.${gen}.${randomBytes(32).toString('base64url')}`;
    const old = createDeviceCookies(DEVICE_KEK, () => Date.now() - DEVICE_COOKIE_TTL_SECONDS * 1000).issue(
      u.userId,
      new Date(Number(gen)),
    );
    for (const cookie of [forged, otherDevice, old]) {
      const res = await login(u.email, GOOD_PASSWORD, home, cookie);
      expect(res.statusCode).toBe(429);
      expect(res.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
      expect(deviceLine(res)).toBeUndefined();
    }
    // The owner's own browser: signed in, and its cookie renewed for the same device.
    const owner = await login(u.email, GOOD_PASSWORD, home, device);
    expect(owner.statusCode).toBe(200);
    expect(deviceOf(owner).split('.')[0]).toBe(id);
    // From another address too: the device is what is proven, not the address.
    expect((await login(u.email, GOOD_PASSWORD, newIp(), device)).statusCode).toBe(200);
  });

  it('a proven device has a budget of its own: the 6th wrong guess with it is refused, even with the right password', async () => {
    const u = await signUpAndVerify(h);
    const device = deviceOf(await login(u.email, GOOD_PASSWORD, newIp()));
    // A thief with the cookie, from a fresh address each time (no per-address budget runs out).
    for (let i = 0; i < 5; i++) {
      expect((await login(u.email, `stolen cookie guess ${i}`, newIp(), device)).statusCode).toBe(401);
    }
    const sixth = await login(u.email, GOOD_PASSWORD, newIp(), device);
    expect(sixth.statusCode).toBe(429);
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(800);
    // The device's failures did not spend the account-wide budget: another browser still signs in.
    expect((await login(u.email, GOOD_PASSWORD, newIp())).statusCode).toBe(200);
  });

  it("a proven device is not held to the account's budget at its (shared) address, but to the address's own", async () => {
    const u = await signUpAndVerify(h);
    const shared = newIp();
    const device = deviceOf(await login(u.email, GOOD_PASSWORD, newIp()));
    // A neighbour behind the same address spends the account's budget there (rule `account`)…
    for (let i = 0; i < 5; i++) expect((await login(u.email, `guess ${i}`, shared)).statusCode).toBe(401);
    expect((await login(u.email, GOOD_PASSWORD, shared)).statusCode).toBe(429);
    // …which the owner's usual browser is not held to: its device's budget replaces it.
    expect((await login(u.email, GOOD_PASSWORD, shared, device)).statusCode).toBe(200);
    // The per-address rule (`ip`, 20 failures whatever the account) still applies to it.
    for (let i = 0; i < 15; i++) {
      expect((await login(`nobody-${i}-${u.email}`, 'guess', shared)).statusCode).toBe(401);
    }
    expect((await login(u.email, GOOD_PASSWORD, shared, device)).statusCode).toBe(429);
  });
});
