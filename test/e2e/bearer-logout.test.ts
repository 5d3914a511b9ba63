import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  inOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  type E2eApp,
  type User,
} from './helpers.js';

/**
 * `POST /v1/auth/logout` is a `user` route, so an API client may call it with its bearer access token. It
 * used to answer 204 as for a browser while revoking only a session (there is none behind a bearer
 * token): the token's refresh family stayed live for its 30 days and the access token kept working. A
 * 204 now means the token's family (`refreshFamilyId` on the principal) is ended, and the access token
 * refused at once; an API key, which has nobody to sign out, is refused.
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
    const other = await tokenPair(user.browser, user.personalOrgId);
    const client = api(c, pair.accessToken);
    expect((await client.get('/v1/projects', inOrg(user.personalOrgId))).statusCode).toBe(200);

    const out = await client.post('/v1/auth/logout');
    expect(out.statusCode, out.body).toBe(204);

    const after = await client.get('/v1/projects', inOrg(user.personalOrgId));
    expect(after.statusCode, after.body).toBe(401);
    expect(after.json()).toMatchObject({ error: { code: 'TOKEN_REVOKED' } });
    const refreshed = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/token/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(refreshed.statusCode, refreshed.body).toBe(401);

    // Only that family: another token of the user and the browser session that minted both live on.
    const stillIn = await api(c, other.accessToken).get('/v1/projects', inOrg(user.personalOrgId));
    expect(stillIn.statusCode, stillIn.body).toBe(200);
    expect((await user.browser.get('/v1/auth/me')).statusCode).toBe(200);
  });

  it('an API key cannot log out: 403, and it keeps working', async () => {
    const created = await user.browser.post(
      '/v1/api-keys',
      { name: 'logout-probe', scopes: ['projects:read'] },
      inOrg(user.personalOrgId),
    );
    expect(created.statusCode, created.body).toBe(201);
    const key = api(c, rememberSecret(created.json<{ secret: string }>().secret));
    const out = await key.post('/v1/auth/logout');
    expect(out.statusCode, out.body).toBe(403);
    expect(out.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await key.get('/v1/projects')).statusCode).toBe(200);
  });
});
