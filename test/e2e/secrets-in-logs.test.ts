import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import {
  addNewMember,
  api,
  Browser,
  createOrg,
  enrollTotp,
  expectNoSecretsIn,
  invite,
  logIn,
  newPassword,
  nextMailedToken,
  rememberSecret,
  secretsSeen,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  type E2eApp,
} from './helpers.js';

describe('e2e: secrets never reach the logs', () => {
  let c: E2eApp;
  beforeAll(async () => {
    c = await startApp();
  });
  afterAll(() => stopApp(c));

  it('after a full flow, no password, cookie, invitation token, refresh token or TOTP secret is logged', async () => {
    // Sign-up, email verification, login (and a failed one).
    const alice = await signUp(c, 'alice');
    const verifyToken = await nextMailedToken(alice.email, 'verify-email');
    expect((await new Browser(c).post('/v1/auth/verify-email', { token: verifyToken })).statusCode).toBe(204);
    const wrong = rememberSecret(newPassword());
    expect(
      (await new Browser(c).post('/v1/auth/login', { email: alice.email, password: wrong })).statusCode,
    ).toBe(401);
    const { browser: aliceAgain } = await logIn(c, alice.email, alice.password);

    // An organization, an invitation accepted by a newcomer, one by an existing user.
    const org = await createOrg(aliceAgain, 'secretive');
    const bob = await addNewMember(aliceAgain, org.id, 'admin', 'bob');
    const carol = await signUp(c, 'carol');
    const { token: carolInvite } = await invite(aliceAgain, org.id, carol.email, 'member');
    expect((await carol.browser.post('/v1/invitations/accept', { token: carolInvite })).statusCode).toBe(200);

    // API tokens: issue, use, refresh, reuse (refused), revoke.
    const pair = await tokenPair(bob.browser, org.id);
    expect((await api(c, pair.accessToken).get('/v1/projects')).statusCode).toBe(200);
    const refresh = (refreshToken: string) =>
      c.app.inject({ method: 'POST', url: '/v1/auth/token/refresh', payload: { refreshToken } });
    const rotated = (await refresh(pair.refreshToken)).json<{ accessToken: string; refreshToken: string }>();
    rememberSecret(rotated.accessToken);
    rememberSecret(rotated.refreshToken);
    expect((await refresh(pair.refreshToken)).statusCode).toBe(401);
    await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/revoke',
      payload: { refreshToken: rotated.refreshToken },
    });

    // Two-factor: enrol, log in, verify with a TOTP code, then with a recovery code.
    const { secret, recoveryCodes } = await enrollTotp(bob.browser);
    const first = await logIn(c, bob.email, bob.password);
    const verified = await first.browser.post('/v1/auth/two-factor/verify', {
      code: codeFor(secret, Date.now() + 30_000),
    });
    expect(verified.statusCode, verified.body).toBe(200);
    const second = await logIn(c, bob.email, bob.password);
    const byRecovery = await second.browser.post('/v1/auth/two-factor/verify', { code: recoveryCodes[0] });
    expect(byRecovery.statusCode, byRecovery.body).toBe(200);

    // Password change and reset.
    const changed = newPassword();
    const change = await carol.browser.post('/v1/auth/password', {
      currentPassword: carol.password,
      newPassword: changed,
    });
    expect(change.statusCode, change.body).toBe(204);
    expect((await new Browser(c).post('/v1/auth/password-reset', { email: carol.email })).statusCode).toBe(
      202,
    );
    const resetToken = await nextMailedToken(carol.email, 'reset-password');
    const reset = await new Browser(c).post('/v1/auth/password-reset/confirm', {
      token: resetToken,
      password: newPassword(),
    });
    expect(reset.statusCode, reset.body).toBe(204);

    // The flow was logged (so the scan means something), with its context, and leaked nothing.
    expect(c.logs.filter((l) => l.msg === 'request completed').length).toBeGreaterThan(20);
    expect(c.logs.some((l) => l.user_id === bob.userId && l.tenant_id === org.id)).toBe(true);
    expect(secretsSeen.size).toBeGreaterThan(25);
    for (const s of [
      alice.password,
      bob.password,
      carolInvite,
      pair.refreshToken,
      secret,
      recoveryCodes[0]!,
    ]) {
      expect(secretsSeen.has(s)).toBe(true);
    }
    expectNoSecretsIn(c.logs);
  });
});
