/**
 * Hostile review of the verification link's binding to the browser that signed up (`sr_signup`:
 * src/modules/auth/signup-browser.ts, email-verification.ts, auth.routes.ts). Checked and held: the cookie
 * is bound to one token (a browser's own cookie does not sign it in through another account's link), it is
 * HttpOnly, SameSite=Lax and sent only to the verification route, and a sign-up for a taken address sets
 * a cookie that binds nothing. Left as a note in the report (no failing test): the name carries no
 * `__Secure-` prefix and the value is computable from the token, so a party able to plant cookies for the
 * host (a sibling subdomain, an active attacker on plain http) could plant the binding of their own link.
 */
import { describe, expect, it } from 'vitest';
import {
  Browser,
  newPassword,
  nextMailedToken,
  signUp,
  startAppAround,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';

let c: E2eApp;
startAppAround((started) => (c = started));

describe('review5: the sign-up browser cookie', () => {
  it("a browser's own sign-up cookie does not sign it in through another account's link", async () => {
    // The attacker signs up (their browser holds a valid sr_signup for THEIR token).
    const attacker = new Browser(c);
    const mine = uniqueEmail('cookie-attacker');
    expect(
      (await attacker.post('/v1/auth/register', { email: mine, password: newPassword() })).statusCode,
    ).toBe(202);
    expect(attacker.signUp).not.toBeNull();
    // Someone else's pending link reaches the attacker's browser.
    const other = new Browser(c);
    const theirs = uniqueEmail('cookie-other');
    expect(
      (await other.post('/v1/auth/register', { email: theirs, password: newPassword() })).statusCode,
    ).toBe(202);
    const token = await nextMailedToken(theirs, 'verify-email');
    const res = await attacker.post('/v1/auth/verify-email', { token });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ signedIn: boolean }>().signedIn).toBe(false);
    expect(attacker.cookie).toBeNull();
  });

  it('is HttpOnly, SameSite=Lax, sent only to the verification route, and lives as long as the link', async () => {
    const b = new Browser(c);
    const res = await b.post('/v1/auth/register', {
      email: uniqueEmail('cookie-attrs'),
      password: newPassword(),
    });
    expect(res.statusCode, res.body).toBe(202);
    const line = [res.headers['set-cookie']].flat().find((l) => l?.startsWith('sr_signup='));
    expect(line).toBeDefined();
    expect(line).toMatch(/; HttpOnly/i);
    expect(line).toMatch(/; SameSite=Lax/i);
    expect(line).toMatch(/; Path=\/v1\/auth\/verify-email(;|$)/i);
    expect(line).toMatch(/; Max-Age=172800(;|$)/i);
    expect(line).not.toMatch(/; Domain=/i);
  });

  it('a sign-up for a taken address sets a cookie that signs nobody in', async () => {
    const owner = await signUp(c, 'cookie-taken');
    const stranger = new Browser(c);
    const res = await stranger.post('/v1/auth/register', { email: owner.email, password: newPassword() });
    expect(res.statusCode, res.body).toBe(202);
    expect(stranger.signUp).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(stranger.cookie).toBeNull();
  });
});
