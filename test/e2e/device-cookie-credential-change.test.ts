/**
 * Device cookies (src/modules/auth/device-cookie.ts) after the password changes: a cookie issued before
 * the account's credentials last changed (`users.credentials_changed_at`: a signed-in password change, a
 * reset by the mailed link) proves nothing. The browser holding it is an unproven device again (held to
 * the account's budgets, like a browser without one) until it completes a sign-in with the new password,
 * which issues it a cookie of a new device.
 */
import { describe, expect, it } from 'vitest';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import {
  Browser,
  cookieSetBy,
  newPassword,
  nextMailedToken,
  ORIGIN,
  signUp,
  startAppAround,
  type E2eApp,
  type User,
} from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

const login = (email: string, password: string, ip: string, device?: string) =>
  c.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { email, password },
    remoteAddress: ip,
    headers: { origin: ORIGIN, ...(device ? { cookie: `sr_device=${device}` } : {}) },
  });

/** The device cookie's value an answer sets, or undefined. */
const deviceOf = (res: { headers: Record<string, unknown> }) => cookieSetBy(res, 'sr_device');
const deviceIdOf = (value: string) => value.split('.')[0];

/** Past the second the cookie was issued in (its issue time has whole seconds). */
const nextSecond = () => new Promise((r) => setTimeout(r, 1_100));

/**
 * `u`'s signed-in password change to a new password, a second after `u`'s cookies were issued (so they
 * predate it); the new password and the change's answer (204).
 */
async function changePasswordLater(u: User) {
  await nextSecond();
  const password = newPassword();
  const changed = await u.browser.post('/v1/auth/password', {
    currentPassword: u.password,
    newPassword: password,
  });
  expect(changed.statusCode, changed.body).toBe(204);
  return { password, changed };
}

/**
 * `device` was issued before the password changed to `password`: at an address where a neighbour spent
 * the account's budget it is refused as a browser without one would be; signing in elsewhere gives it a
 * new device, whose cookie is proven at that address.
 */
async function expectUnproven(email: string, password: string, device: string, n: number): Promise<void> {
  const shared = `198.51.100.${n}`;
  for (let i = 0; i < 5; i++) expect((await login(email, `neighbour ${i}`, shared)).statusCode).toBe(401);
  const refused = await login(email, password, shared, device);
  expect(refused.statusCode, refused.body).toBe(429);
  expect(refused.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });

  const again = await login(email, password, `198.51.100.${n + 1}`, device);
  expect(again.statusCode, again.body).toBe(200);
  const renewed = deviceOf(again);
  expect(renewed).toBeDefined();
  expect(deviceIdOf(renewed!)).not.toBe(deviceIdOf(device));
  expect((await login(email, password, shared, renewed)).statusCode).toBe(200);
}

describe('device cookies issued before a password change prove nothing', () => {
  it('a signed-in password change', async () => {
    const u = await signUp(c, 'device-pw-change');
    const device = deviceOf(await login(u.email, u.password, '198.51.100.20'));
    expect(device).toBeDefined();
    // Before the change the cookie is proven: signing in with it keeps its device.
    const before = await login(u.email, u.password, '198.51.100.21', device);
    expect(deviceIdOf(deviceOf(before)!)).toBe(deviceIdOf(device!));

    const { password } = await changePasswordLater(u);
    await expectUnproven(u.email, password, device!, 22);
  });

  it('the browser that changed the password gets a device cookie issued after the change', async () => {
    const u = await signUp(c, 'device-pw-change-own');
    const { password, changed } = await changePasswordLater(u);
    const own = deviceOf(changed);
    expect(own).toBeDefined();
    expect([changed.headers['set-cookie']].flat().join('\n')).toMatch(
      /sr_device=[^;]+;.*Path=\/v1\/auth\/login/,
    );
    // Proven: at an address where a neighbour spent the account's budget, it signs in, and keeps its device.
    const shared = '198.51.100.40';
    for (let i = 0; i < 5; i++) expect((await login(u.email, `neighbour ${i}`, shared)).statusCode).toBe(401);
    expect((await login(u.email, password, shared)).statusCode).toBe(429);
    const signedIn = await login(u.email, password, shared, own);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    expect(deviceIdOf(deviceOf(signedIn)!)).toBe(deviceIdOf(own!));
  });

  it('a reset by the mailed link', async () => {
    const u = await signUp(c, 'device-pw-reset');
    const device = deviceOf(await login(u.email, u.password, '198.51.100.30'));
    expect(device).toBeDefined();

    await nextSecond();
    const anon = new Browser(c);
    expect((await anon.post('/v1/auth/password-reset', { email: u.email })).statusCode).toBe(202);
    const token = await nextMailedToken(u.email, 'reset-password');
    const password = newPassword();
    const confirm = await anon.post('/v1/auth/password-reset/confirm', { token, password });
    expect(confirm.statusCode, confirm.body).toBe(204);
    await expectUnproven(u.email, password, device!, 32);
  });

  it('confirming a two-factor enrollment gives the browser that did it a new device cookie', async () => {
    const u = await signUp(c, 'device-2fa-on');
    await nextSecond();
    const begin = await u.browser.post('/v1/auth/two-factor/enroll');
    expect(begin.statusCode, begin.body).toBe(200);
    const { secret } = begin.json<{ secret: string }>();
    const confirm = await u.browser.post('/v1/auth/two-factor/enroll/confirm', {
      code: codeFor(secret, Date.now()),
    });
    expect(confirm.statusCode, confirm.body).toBe(200);
    const own = deviceOf(confirm);
    expect(own).toBeDefined();
    const shared = '198.51.100.50';
    for (let i = 0; i < 5; i++) expect((await login(u.email, `neighbour ${i}`, shared)).statusCode).toBe(401);
    const signedIn = await login(u.email, u.password, shared, own);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    expect(signedIn.json()).toMatchObject({ twoFactorRequired: true });
  });
});
