/**
 * Hostile review: a second factor enrolled by whoever registered an address before its owner (never
 * verified) must not survive the owner's proof of the address by a password reset. The social sign-in's
 * first proof removes it (docs/social-sign-in.md: "enrolled while the address was unproven, they could
 * lock the owner out or stay with whoever enrolled them"); the password reset leaves it today, so the
 * owner who reset the password cannot sign in without the squatter's codes, and the squatter holds the
 * account's second factor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  enrollTotp,
  newPassword,
  nextMailedToken,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
} from './helpers.js';

describe('pre-registration: a TOTP factor enrolled while the address was unproven', () => {
  let c: E2eApp;
  beforeAll(async () => {
    c = await startApp();
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  it("is removed when the owner proves the address by a password reset (else the owner needs the squatter's codes)", async () => {
    const email = uniqueEmail('prehijack-totp');
    // The squatter registers the address, signs in with their password and enrolls TOTP.
    const squatter = new Browser(c);
    const password = newPassword();
    expect((await squatter.post('/v1/auth/register', { email, password })).statusCode).toBe(202);
    expect((await squatter.post('/v1/auth/login', { email, password })).statusCode).toBe(200);
    await enrollTotp(squatter);

    // The owner of the mailbox claims the account by a password reset and signs in.
    const owner = new Browser(c);
    expect((await owner.post('/v1/auth/password-reset', { email })).statusCode).toBe(202);
    const token = await nextMailedToken(email, 'reset-password');
    const ownerPassword = newPassword();
    const reset = await owner.post('/v1/auth/password-reset/confirm', { token, password: ownerPassword });
    expect(reset.statusCode, reset.body).toBe(204);
    const login = await owner.post('/v1/auth/login', { email, password: ownerPassword });
    expect(login.statusCode, login.body).toBe(200);
    expect(
      login.json<{ twoFactorRequired: boolean }>().twoFactorRequired,
      "the owner's sign-in waits for a code only the squatter has",
    ).toBe(false);
  });
});
