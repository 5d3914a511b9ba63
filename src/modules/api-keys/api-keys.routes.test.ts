import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator, type LogLines } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import type { Composition } from '../../app/compose.js';
import { builtInRoles } from '../../platform/authz/roles.js';
import { uuidv7 } from '../../platform/ids.js';
import { identityFixtures } from '../memberships/memberships.test-support.js';

const ROUTES = [
  ['POST', '/v1/api-keys'],
  ['GET', '/v1/api-keys'],
  ['GET', '/v1/api-keys/00000000-0000-7000-8000-000000000000'],
  ['DELETE', '/v1/api-keys/00000000-0000-7000-8000-000000000000'],
] as const;

describe('api keys routes with the Foundation resolver (accepts nothing)', () => {
  let c: Composition;
  beforeAll(async () => {
    c = await buildTestApp();
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('every route answers 401 without a verified principal', async () => {
    for (const [method, url] of ROUTES) {
      const res = await c.app.inject({
        method,
        url,
        payload: method === 'POST' ? { name: 'x', scopes: [] } : undefined,
      });
      expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 401 });
    }
  });
});

describe('api keys routes behind a verified principal (test resolver)', () => {
  let c: Composition & { logs: LogLines };
  let owner: string;
  let admin: string;
  let viewer: string;
  let ownerB: string;
  let unverified: string;
  let relaxed: Awaited<ReturnType<typeof buildTestApp>>;
  let unverifiedRelaxed: string;
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    const r = createTestAuthenticator();
    c = await buildTestApp({ authenticator: r.authenticator });
    const fx = identityFixtures(c.tenancy);
    const orgA = await createTestOrg(c.tenancy, 'kra');
    const orgB = await createTestOrg(c.tenancy, 'krb');
    owner = r.issue(orgA, { userId: await fx.user() });
    admin = r.issue(orgA, {
      userId: await fx.user(),
      role: 'admin',
      permissions: new Set(builtInRoles.admin),
    });
    viewer = r.issue(orgA, {
      userId: await fx.user(),
      role: 'viewer',
      permissions: new Set(builtInRoles.viewer),
    });
    ownerB = r.issue(orgB, { userId: await fx.user() });
    unverified = r.issue(orgA, { userId: await fx.user(), emailVerified: false });
    // A deployment with REQUIRE_VERIFIED_EMAIL=false.
    const r2 = createTestAuthenticator();
    relaxed = await buildTestApp({ authenticator: r2.authenticator, requireVerifiedEmail: false });
    unverifiedRelaxed = r2.issue(orgA, { userId: await fx.user(), emailVerified: false });
  });
  afterAll(async () => {
    for (const x of [c, relaxed]) {
      await x.app.close();
      await x.close();
    }
  });

  it('an unverified user may not create a key (403 EMAIL_NOT_VERIFIED), unless the deployment relaxes it', async () => {
    const payload = { name: 'gate', scopes: ['projects:read'] };
    const refused = await create(unverified, payload);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ error: { code: 'EMAIL_NOT_VERIFIED' } });
    const allowed = await relaxed.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: auth(unverifiedRelaxed),
      payload,
    });
    expect(allowed.statusCode, allowed.body).toBe(201);
  });

  const create = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
    c.app.inject({
      method: 'POST',
      url: '/v1/api-keys',
      headers: { ...auth(token), ...headers },
      payload: payload as object,
    });

  it('create shows the secret once; get, list and revoke never show it', async () => {
    const res = await create(owner, { name: 'deploy', scopes: ['projects:read', 'projects:create'] });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const key = res.json<{ id: string; secret: string; keyId: string }>();
    expect(key.secret).toMatch(new RegExp(`^srk_${key.keyId}_[A-Za-z0-9_-]{43}$`));
    const got = await c.app.inject({ url: `/v1/api-keys/${key.id}`, headers: auth(owner) });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      id: key.id,
      name: 'deploy',
      scopes: ['projects:create', 'projects:read'],
    });
    const list = await c.app.inject({ url: '/v1/api-keys?limit=200', headers: auth(owner) });
    expect(list.json<{ data: { id: string }[] }>().data.map((k) => k.id)).toContain(key.id);
    for (const body of [got.body, list.body]) {
      expect(body).not.toContain(key.secret.slice(-43));
      expect(body).not.toMatch(/"secret"|hash/i);
    }
    const del = await c.app.inject({ method: 'DELETE', url: `/v1/api-keys/${key.id}`, headers: auth(owner) });
    expect(del.statusCode).toBe(204);
    const again = await c.app.inject({
      method: 'DELETE',
      url: `/v1/api-keys/${key.id}`,
      headers: auth(owner),
    });
    expect(again.statusCode).toBe(204);
    expect(
      (await c.app.inject({ url: `/v1/api-keys/${key.id}`, headers: auth(owner) })).json<{
        revokedAt: string;
      }>().revokedAt,
    ).toEqual(expect.any(String));
  });

  it('needs api_keys:manage; scopes above the creator’s permissions are refused', async () => {
    expect((await create(viewer, { name: 'x', scopes: [] })).statusCode).toBe(403);
    expect((await c.app.inject({ url: '/v1/api-keys', headers: auth(viewer) })).statusCode).toBe(403);
    const above = await create(admin, { name: 'x', scopes: ['projects:read', 'org:delete'] });
    expect(above.statusCode).toBe(403);
    expect(above.json()).toMatchObject({
      error: { code: 'API_KEY_SCOPES_NOT_ALLOWED', details: { missing: ['org:delete'] } },
    });
    expect(
      (await create(admin, { name: 'x', scopes: ['projects:read', 'api_keys:manage'] })).statusCode,
    ).toBe(201);
  });

  it('another organization’s key answers 404 with the same body as a missing one', async () => {
    const key = (await create(owner, { name: 'private', scopes: [] })).json<{ id: string }>();
    for (const method of ['GET', 'DELETE'] as const) {
      const foreign = await c.app.inject({ method, url: `/v1/api-keys/${key.id}`, headers: auth(ownerB) });
      const absent = await c.app.inject({ method, url: `/v1/api-keys/${uuidv7()}`, headers: auth(ownerB) });
      const malformed = await c.app.inject({ method, url: '/v1/api-keys/nope', headers: auth(ownerB) });
      expect(foreign.statusCode).toBe(404);
      expect(foreign.body).toBe(absent.body);
      expect(malformed.body).toBe(absent.body);
    }
    const listB = await c.app.inject({ url: '/v1/api-keys', headers: auth(ownerB) });
    expect(listB.json<{ data: { id: string }[] }>().data.map((k) => k.id)).not.toContain(key.id);
    const still = await c.app.inject({ url: `/v1/api-keys/${key.id}`, headers: auth(owner) });
    expect(still.json()).toMatchObject({ revokedAt: null });
  });

  it('validation: 400 naming the field; unknown scopes and past expiry get the module’s codes', async () => {
    for (const [payload, field] of [
      [{ scopes: [] }, 'body.name'],
      [{ name: '', scopes: [] }, 'body.name'],
      [{ name: 'x' }, 'body.scopes'],
      [{ name: 'x', scopes: [], extra: 1 }, 'body.extra'],
      [{ name: 'x', scopes: [], expiresAt: 'tomorrow' }, 'body.expiresAt'],
      [{ name: 'x', scopes: [], rateLimitPerMinute: 0 }, 'body.rateLimitPerMinute'],
    ] as const) {
      const res = await create(owner, payload);
      expect(res.statusCode).toBe(400);
      expect(res.json<{ error: { code: string; message: string } }>().error.message.startsWith(field)).toBe(
        true,
      );
    }
    expect((await create(owner, { name: 'x', scopes: ['nope:never'] })).json()).toMatchObject({
      error: { code: 'API_KEY_SCOPES_INVALID' },
    });
    expect(
      (await create(owner, { name: 'x', scopes: [], expiresAt: '2000-01-01T00:00:00Z' })).json(),
    ).toMatchObject({
      error: { code: 'API_KEY_EXPIRY_INVALID' },
    });
  });

  it('Idempotency-Key: a retried POST returns the first key, marked as replayed, without the secret', async () => {
    const headers = { 'idempotency-key': `k-${uuidv7()}` };
    const one = await create(owner, { name: 'idem', scopes: [] }, headers);
    const two = await create(owner, { name: 'idem', scopes: [] }, headers);
    expect(two.statusCode).toBe(201);
    expect(two.headers['idempotent-replayed']).toBe('true');
    expect(two.json()).toEqual({ ...one.json<object>(), secret: null });
  });
});
