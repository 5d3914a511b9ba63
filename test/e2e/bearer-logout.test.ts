import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, inOrg, signUp, startApp, stopApp, tokenPair, type E2eApp, type User } from './helpers.js';

/**
 * `POST /v1/auth/logout` is a `user` route, so an API client may call it with its bearer access token. It
 * answers 204 as for a browser, but only a session is revoked (auth.routes.ts: `if (sessionId) …`): the
 * token's refresh family stays live for its 30 days and the access token keeps working. A client that
 * "logged out" is still signed in. Either the route ends the token's family (`refreshFamilyId` is on the
 * principal) or it refuses a credential it cannot sign out. Fails today.
 */
describe('e2e: logout with a bearer access token', () => {
  let c: E2eApp;
  let user: User;

  beforeAll(async () => {
    c = await startApp();
    user = await signUp(c, 'bearer-logout');
  });
  afterAll(() => stopApp(c));

  it('a 204 from logout means the token and its refresh family are signed out', async () => {
    const pair = await tokenPair(user.browser, user.personalOrgId);
    const client = api(c, pair.accessToken);
    expect((await client.get('/v1/projects', inOrg(user.personalOrgId))).statusCode).toBe(200);

    const out = await client.post('/v1/auth/logout');
    if (out.statusCode !== 204) return; // refusing the bearer credential outright is fine too

    const after = await client.get('/v1/projects', inOrg(user.personalOrgId));
    expect(after.statusCode, after.body).toBe(401);
    const refreshed = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(401);
  });
});
