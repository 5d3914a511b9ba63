import { describe, expect, it } from 'vitest';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import {
  api,
  Browser,
  enrollTotp,
  logIn,
  newPassword,
  nextMailedToken,
  signUp,
  startAppAround,
  tokenPair,
  type E2eApp,
} from './helpers.js';

const STEP = 30_000;

/**
 * Revocation reaches access tokens on their next request (issue 8 items 10 and 11): the token's `sid`
 * names its refresh family, checked against the revocation cache the invalidation bus keeps current.
 */
describe('e2e: revocation reaches sessions and access tokens at once', () => {
  let c: E2eApp;
  startAppAround((started) => (c = started));

  const projects = (token: string) => api(c, token).get('/v1/projects');
  const expectRevoked = async (token: string) => {
    const res = await projects(token);
    expect(res.statusCode, res.body).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'TOKEN_REVOKED' } });
  };

  it('logout ends the tokens its session minted; revoking a family ends its access tokens', async () => {
    const u = await signUp(c, 'rev-logout');
    const pair = await tokenPair(u.browser, u.personalOrgId);
    const kept = await tokenPair(u.browser, u.personalOrgId);
    expect((await projects(pair.accessToken)).statusCode).toBe(200); // cached as live now
    const revoke = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/revoke',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(revoke.statusCode).toBe(200);
    await expectRevoked(pair.accessToken);
    expect((await projects(kept.accessToken)).statusCode).toBe(200);

    expect((await u.browser.post('/v1/auth/logout')).statusCode).toBe(204);
    await expectRevoked(kept.accessToken);
  });

  it('a password change ends every other session and every token; this session stays', async () => {
    const u = await signUp(c, 'rev-change');
    const { browser: other } = await logIn(c, u.email, u.password);
    const fromThis = await tokenPair(u.browser, u.personalOrgId);
    const fromOther = await tokenPair(other, u.personalOrgId);
    for (const t of [fromThis, fromOther]) expect((await projects(t.accessToken)).statusCode).toBe(200);
    const res = await u.browser.post('/v1/auth/password', {
      currentPassword: u.password,
      newPassword: newPassword(),
    });
    expect(res.statusCode, res.body).toBe(204);
    expect((await u.browser.get('/v1/auth/me')).statusCode).toBe(200);
    expect((await other.get('/v1/auth/me')).statusCode).toBe(401);
    for (const t of [fromThis, fromOther]) await expectRevoked(t.accessToken);
  });

  it('a password reset ends every session and every token', async () => {
    const u = await signUp(c, 'rev-reset');
    const pair = await tokenPair(u.browser, u.personalOrgId);
    expect((await projects(pair.accessToken)).statusCode).toBe(200);
    const anon = new Browser(c);
    expect((await anon.post('/v1/auth/password-reset', { email: u.email })).statusCode).toBe(202);
    const token = await nextMailedToken(u.email, 'reset-password');
    const confirm = await anon.post('/v1/auth/password-reset/confirm', { token, password: newPassword() });
    expect(confirm.statusCode, confirm.body).toBe(204);
    expect((await u.browser.get('/v1/auth/me')).statusCode).toBe(401);
    await expectRevoked(pair.accessToken);
  });

  it('turning two-factor off ends every other session and every token; this session stays', async () => {
    const u = await signUp(c, 'rev-2fa');
    const { secret, recoveryCodes } = await enrollTotp(u.browser);
    const { browser: other } = await logIn(c, u.email, u.password);
    const verify = await other.post('/v1/auth/two-factor/verify', {
      code: codeFor(secret, Date.now() + STEP),
    });
    expect(verify.statusCode, verify.body).toBe(200);
    expect((await other.get('/v1/auth/me')).statusCode).toBe(200);
    const pair = await tokenPair(u.browser, u.personalOrgId);
    expect((await projects(pair.accessToken)).statusCode).toBe(200);

    const off = await u.browser.post('/v1/auth/two-factor/disable', { code: recoveryCodes[0]! });
    expect(off.statusCode, off.body).toBe(204);
    expect((await u.browser.get('/v1/auth/me')).statusCode).toBe(200);
    expect((await other.get('/v1/auth/me')).statusCode).toBe(401);
    await expectRevoked(pair.accessToken);
  });
});
