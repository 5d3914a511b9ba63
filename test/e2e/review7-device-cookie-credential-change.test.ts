/**
 * Hostile review of device cookies after a credential change (src/modules/auth/device-cookie.ts `verify`,
 * login.ts). A cookie "issued before the account's credentials last changed proves nothing" (docs/identity.md).
 *
 * 1. The issue time has whole seconds and the check is `issuedAt < floor(credentials_changed_at)`: a cookie
 *    issued with the OLD password earlier in the same second as the change still proves the device. Whoever
 *    holds the old password (the reason the owner changes it) signs in in a loop (a success spends no
 *    budget) and keeps, when the owner changes the password, a cookie of the second of the change: with a
 *    loop a few times a second that is most changes. That cookie keeps the proven-device budgets
 *    (`device`, and `accountDevices`, which the owner's own new browsers share).
 * 2. The owner's own browser, which just proved the current password (and chose the new one) in a signed-in
 *    password change, loses its device cookie and is given no new one: until its next complete sign-in it
 *    is an unproven browser, and strangers spending the account-wide budget (`accountTotal`, 100 from
 *    anywhere) lock the owner out of signing in, the lockout device cookies exist to prevent, right after
 *    the owner reacted to an attack by changing the password.
 */
import { describe, expect, it } from 'vitest';
import { cookieSetBy, newPassword, ORIGIN, signUp, startAppAround, type E2eApp } from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

const login = (email: string, password: string, ip: string, cookie?: string) =>
  c.app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: { email, password },
    remoteAddress: ip,
    headers: { origin: ORIGIN, ...(cookie ? { cookie } : {}) },
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('review7: device cookies and credential changes', () => {
  it('a cookie issued with the old password in the second of the change proves nothing', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const u = await signUp(c, 'r7-same-second');
      // Just past a second boundary, so the sign-in and the change fit in one second.
      while (Date.now() % 1000 > 50) await sleep(5);
      // The holder of the old password signs in (one turn of the loop).
      const taken = await login(u.email, u.password, '198.51.100.70');
      expect(taken.statusCode, taken.body).toBe(200);
      const device = cookieSetBy(taken, 'sr_device')!;
      const issuedAt = Number(device.split('.')[1]);
      // The owner changes the password.
      const password = newPassword();
      const changed = await u.browser.post('/v1/auth/password', {
        currentPassword: u.password,
        newPassword: password,
      });
      expect(changed.statusCode, changed.body).toBe(204);
      // The change happened after the cookie was issued and before now: in its second when now is.
      if (Math.floor(Date.now() / 1000) !== issuedAt) continue;

      // A neighbour spends the account's budget at a shared address; the stale cookie's holder guesses
      // there: a browser without a (valid) cookie is refused (429), a proven device is not (401).
      const shared = `198.51.100.${80 + attempt}`;
      for (let i = 0; i < 5; i++) {
        expect((await login(u.email, `neighbour ${i}`, shared)).statusCode).toBe(401);
      }
      const guess = await login(u.email, 'a guess at the new password', shared, `sr_device=${device}`);
      // On passkey-budget: 401, the cookie from before the change still proves the device.
      expect(guess.statusCode, guess.body).toBe(429);
      return;
    }
    throw new Error('the sign-in and the change never fell in one second');
  });

  it("the owner's browser that changed the password stays a proven device", async () => {
    const u = await signUp(c, 'r7-owner-change');
    const home = '198.51.100.90';
    const signedIn = await login(u.email, u.password, home);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    const session = cookieSetBy(signedIn, 'sr_session')!;
    let device = cookieSetBy(signedIn, 'sr_device')!;
    expect(device).toBeDefined();
    await sleep(1_100); // past the second the cookie was issued in

    // The owner, signed in in that browser, changes the password (say, after seeing failed sign-ins).
    const password = newPassword();
    const changed = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/password',
      payload: { currentPassword: u.password, newPassword: password },
      remoteAddress: home,
      headers: { origin: ORIGIN, cookie: `sr_session=${session}` },
    });
    expect(changed.statusCode, changed.body).toBe(204);
    device = cookieSetBy(changed, 'sr_device') ?? device;

    // Strangers spend the account-wide budget: 100 wrong guesses, 5 from each of 20 addresses.
    for (let a = 0; a < 20; a++) {
      for (let i = 0; i < 5; i++) {
        const res = await login(u.email, `stranger ${a}.${i}`, `203.0.113.${100 + a}`);
        expect(res.statusCode, res.body).toBe(401);
      }
    }
    // The owner signs in from their usual browser with the new password.
    const owner = await login(u.email, password, home, `sr_device=${device}`);
    // On passkey-budget: 429 AUTH_THROTTLED for 15 minutes (the cookie counts as absent, nothing replaced it).
    expect(owner.statusCode, owner.body).toBe(200);
  });
});
