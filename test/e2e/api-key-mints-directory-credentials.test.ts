/**
 * Hostile review: an API key may not create API keys, because "a key minted by a key would outlive its
 * parent's revocation or expiry" (docs/api-keys.md). A key holding the right scopes still mints the
 * organization's other credentials today: a SCIM token (which provisions members, and keeps working
 * after the key is revoked) and an SSO connection (whose identity provider signs in existing accounts of
 * the verified domains: sso-admin-takes-owner.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeIdp } from '../support/oidc-fake-idp.js';
import { builtInRoles } from '../../src/platform/authz/roles.js';
import {
  api,
  createOrg,
  inOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';

describe('an API key and the directory credentials', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true } });
    owner = await signUp(c, 'key-mints-owner');
    org = await createOrg(owner.browser, 'key-mints');
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  async function key(scopes: readonly string[]) {
    const res = await owner.browser.post('/v1/api-keys', { name: 'CI', scopes }, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(201);
    return {
      id: res.json<{ id: string }>().id,
      secret: rememberSecret(res.json<{ secret: string }>().secret),
    };
  }

  it('a key cannot issue a SCIM token (it would outlive the key)', async () => {
    const k = await key(builtInRoles.admin);
    const minted = await api(c, k.secret).post('/v1/scim/tokens', {});
    expect.soft(minted.statusCode, minted.body).toBe(403);
    expect.soft(minted.json()).toMatchObject({ error: { code: 'API_KEY_CANNOT_CREATE_CREDENTIALS' } });
    if (minted.statusCode !== 201) return;
    const scimToken = rememberSecret(minted.json<{ secret: string }>().secret);
    // The key is revoked (it leaked, its owner left): the token it minted still provisions members.
    expect((await owner.browser.delete(`/v1/api-keys/${k.id}`, inOrg(org.id))).statusCode).toBe(204);
    const after = await c.app.inject({
      method: 'GET',
      url: '/scim/v2/Users?count=1',
      headers: { authorization: `Bearer ${scimToken}` },
    });
    expect(after.statusCode, 'the SCIM token minted by a revoked key still works').not.toBe(200);
  });

  it('a key cannot create an SSO connection (its IdP would sign in accounts of the verified domains)', async () => {
    const k = await key(['sso:manage']);
    const idp = await startFakeIdp();
    const created = await api(c, k.secret).post('/v1/sso/connections', {
      kind: 'oidc',
      name: 'from a key',
      defaultRole: 'member',
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
    });
    await idp.close();
    expect(created.statusCode, created.body).toBe(403);
    expect(created.json()).toMatchObject({ error: { code: 'API_KEY_CANNOT_CREATE_CREDENTIALS' } });
  });
});
