import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeAuthTable } from '../../src/platform/http/auth.js';
import {
  addNewMember,
  BASE_DOMAIN,
  createOrg,
  createProject,
  inOrg,
  ORG_NOT_FOUND,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type Browser,
  type E2eApp,
  type Method,
  type User,
} from './helpers.js';
import { sealAudit } from '../support/audit.js';

interface CreatedKey {
  id: string;
  keyId: string;
  secret: string;
  scopes: string[];
  createdByKeyId: string | null;
}

const INVALID = { error: { code: 'API_KEY_INVALID', message: 'API key is invalid' } };

/**
 * Organization API keys through the real composition: created by a signed-in owner over HTTP, then used
 * as `Authorization: Bearer srk_…` against tenant routes. The key, never a header or path, decides the
 * organization; scopes, revocation, expiry and the per-key rate limit apply on the very next request.
 */
describe('e2e: organization API keys', () => {
  let c: E2eApp;
  let owner: User;
  let ownerB: User;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let projectA: string;
  let admin: { browser: Browser; userId: string };

  /** `POST /v1/api-keys` in `orgId` as `who`; remembers the secret (the log check looks for it). */
  const createKey = async (who: Browser, orgId: string, body: Record<string, unknown>) => {
    const res = await who.post(
      '/v1/api-keys',
      { name: 'key', scopes: ['projects:read'], ...body },
      inOrg(orgId),
    );
    expect(res.statusCode, res.body).toBe(201);
    const key = res.json<CreatedKey>();
    rememberSecret(key.secret);
    return key;
  };
  /** A request authenticated by an API key only (no cookie, no Origin). */
  const withKey = (
    key: string,
    method: Method,
    url: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) =>
    c.app.inject({
      method,
      url,
      payload: payload as object | undefined,
      headers: { authorization: `Bearer ${key}`, ...headers },
    });

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'key-owner');
    ownerB = await signUp(c, 'key-owner-b');
    a = await createOrg(owner.browser, 'ka');
    b = await createOrg(ownerB.browser, 'kb');
    projectA = await createProject(owner.browser, a.id, 'A project');
    await createProject(ownerB.browser, b.id, 'B project');
    admin = await addNewMember(owner.browser, a.id, 'admin', 'key-admin');
  });
  afterAll(() => stopApp(c));

  it('a key reads its organization’s projects; the key, not the request, determines the tenant', async () => {
    const key = await createKey(owner.browser, a.id, { name: 'reader' });
    const list = await withKey(key.secret, 'GET', '/v1/projects');
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json<{ data: { id: string }[] }>().data.map((p) => p.id)).toEqual([projectA]);
    expect((await withKey(key.secret, 'GET', `/v1/projects/${projectA}`)).json()).toMatchObject({
      id: projectA,
    });
    // Naming its own organization is fine.
    expect((await withKey(key.secret, 'GET', '/v1/projects', undefined, inOrg(a.slug))).statusCode).toBe(200);
    expect((await withKey(key.secret, 'GET', `/v1/orgs/${a.slug}/projects`)).statusCode).toBe(200);
    // Naming any other organization, existing or not, answers the 404 of a missing organization.
    for (const [url, headers] of [
      ['/v1/projects', inOrg(b.id)],
      ['/v1/projects', inOrg(b.slug)],
      [`/v1/orgs/${b.slug}/projects`, {}],
      ['/v1/projects', { host: `${b.slug}.${BASE_DOMAIN}` }],
      ['/v1/projects', inOrg('no-such-org-anywhere')],
      ['/v1/projects', inOrg(randomUUID())],
    ] as const) {
      const res = await withKey(key.secret, 'GET', url, undefined, headers);
      expect({ url, headers, status: res.statusCode }).toEqual({ url, headers, status: 404 });
      expect(res.json()).toEqual(ORG_NOT_FOUND);
    }
  });

  it('scopes are enforced: a read-only key cannot write or manage keys', async () => {
    const reader = await createKey(owner.browser, a.id, { name: 'read-only', scopes: ['projects:read'] });
    const denied = await withKey(reader.secret, 'POST', '/v1/projects', { name: 'by key' });
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect((await withKey(reader.secret, 'GET', '/v1/api-keys')).statusCode).toBe(403);
    expect((await withKey(reader.secret, 'GET', '/v1/members')).statusCode).toBe(403);

    const writer = await createKey(owner.browser, a.id, { name: 'writer', scopes: ['projects:create'] });
    const made = await withKey(writer.secret, 'POST', '/v1/projects', { name: 'by key' });
    expect(made.statusCode, made.body).toBe(201);
    expect(
      (await owner.browser.get(`/v1/projects/${made.json<{ id: string }>().id}`, inOrg(a.id))).statusCode,
    ).toBe(200);
  });

  it('scopes above the creator’s own permissions are refused, for members and for keys alike', async () => {
    const above = await admin.browser.post(
      '/v1/api-keys',
      { name: 'x', scopes: ['org:delete'] },
      inOrg(a.id),
    );
    expect(above.statusCode).toBe(403);
    expect(above.json()).toMatchObject({ error: { code: 'API_KEY_SCOPES_NOT_ALLOWED' } });
    const manager = await createKey(admin.browser, a.id, {
      name: 'manager',
      scopes: ['api_keys:manage', 'projects:read'],
    });
    // A key never mints keys (a child would outlive its parent's revocation or expiry), even with
    // api_keys:manage; it may still list and revoke.
    for (const scopes of [['projects:create'], ['projects:read']]) {
      const child = await withKey(manager.secret, 'POST', '/v1/api-keys', { name: 'child', scopes });
      expect(child.statusCode).toBe(403);
      expect(child.json()).toMatchObject({ error: { code: 'API_KEY_CANNOT_CREATE_KEYS' } });
    }
    expect((await withKey(manager.secret, 'GET', '/v1/api-keys')).statusCode).toBe(200);
  });

  it('a revoked key is refused on the very next request', async () => {
    const key = await createKey(owner.browser, a.id, { name: 'to revoke' });
    expect((await withKey(key.secret, 'GET', '/v1/projects')).statusCode).toBe(200); // cached now
    expect((await owner.browser.delete(`/v1/api-keys/${key.id}`, inOrg(a.id))).statusCode).toBe(204);
    const refused = await withKey(key.secret, 'GET', '/v1/projects');
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toMatchObject({ error: { code: 'API_KEY_REVOKED' } });
    expect((await owner.browser.delete(`/v1/api-keys/${key.id}`, inOrg(a.id))).statusCode).toBe(204);
  });

  it('an expired key is refused at once, whether it was cached or not', async () => {
    const soon = await createKey(owner.browser, a.id, {
      name: 'short-lived',
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await withKey(soon.secret, 'GET', '/v1/projects')).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const cached = await withKey(soon.secret, 'GET', '/v1/projects');
    expect(cached.statusCode).toBe(401);
    expect(cached.json()).toMatchObject({ error: { code: 'API_KEY_EXPIRED' } });

    const later = await createKey(owner.browser, a.id, { name: 'expired in the database' });
    await c.tenancy.withTenant(a.id, (db) =>
      db
        .updateTable('api_keys')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('organization_id', '=', a.id)
        .where('id', '=', later.id)
        .execute(),
    );
    expect((await withKey(later.secret, 'GET', '/v1/projects')).json()).toMatchObject({
      error: { code: 'API_KEY_EXPIRED' },
    });
  });

  it('malformed keys and wrong secrets get the one 401 of an invalid key', async () => {
    const key = await createKey(owner.browser, a.id, { name: 'genuine' });
    const flipped = key.secret.slice(0, -1) + (key.secret.endsWith('A') ? 'B' : 'A');
    for (const presented of [
      'srk_',
      'srk_garbage',
      flipped,
      `${key.secret}x`,
      `srk_${'0'.repeat(16)}_${'a'.repeat(43)}`,
    ]) {
      const res = await withKey(presented, 'GET', '/v1/projects');
      expect({ presented, status: res.statusCode }).toEqual({ presented, status: 401 });
      expect(res.json()).toEqual(INVALID);
    }
  });

  it('another organization’s admin cannot see or revoke a key: 404 like a missing one', async () => {
    const key = await createKey(owner.browser, a.id, { name: 'A only' });
    for (const method of ['GET', 'DELETE'] as const) {
      const foreign = await ownerB.browser.req(method, `/v1/api-keys/${key.id}`, undefined, inOrg(b.id));
      const missing = await ownerB.browser.req(
        method,
        `/v1/api-keys/${randomUUID()}`,
        undefined,
        inOrg(b.id),
      );
      expect(foreign.statusCode).toBe(404);
      expect(foreign.body).toBe(missing.body);
      // Naming A from B's session is the missing organization's 404.
      const named = await ownerB.browser.req(method, `/v1/api-keys/${key.id}`, undefined, inOrg(a.id));
      expect(named.json()).toEqual(ORG_NOT_FOUND);
    }
    expect((await withKey(key.secret, 'GET', '/v1/projects')).statusCode).toBe(200);
  });

  it('every response to a key carries RateLimit-* headers; over the limit is 429 with Retry-After', async () => {
    const dflt = await createKey(owner.browser, a.id, { name: 'default limit' });
    const first = await withKey(dflt.secret, 'GET', '/v1/projects');
    expect(first.headers).toMatchObject({
      'ratelimit-limit': '600',
      'ratelimit-remaining': '599',
      'ratelimit-policy': '600;w=60',
    });
    expect(Number(first.headers['ratelimit-reset'])).toBeGreaterThan(0);
    // Errors carry them too; other credentials do not.
    expect(
      (await withKey(dflt.secret, 'POST', '/v1/projects', { name: 'x' })).headers['ratelimit-remaining'],
    ).toBe('598');
    expect((await owner.browser.get('/v1/projects', inOrg(a.id))).headers['ratelimit-limit']).toBeUndefined();

    const small = await createKey(owner.browser, a.id, { name: 'small', rateLimitPerMinute: 3 });
    for (const remaining of ['2', '1', '0']) {
      const res = await withKey(small.secret, 'GET', '/v1/projects');
      expect(res.statusCode).toBe(200);
      expect(res.headers['ratelimit-remaining']).toBe(remaining);
      expect(res.headers['ratelimit-policy']).toBe('3;w=60');
    }
    const limited = await withKey(small.secret, 'GET', '/v1/projects');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['retry-after']).toBe(limited.headers['ratelimit-reset']);
    expect(limited.headers['ratelimit-remaining']).toBe('0');
  });

  it('the secret is shown only at creation: the database holds its hash; lists and the audit log never show it', async () => {
    const key = await createKey(owner.browser, a.id, { name: 'shown once' });
    const secret = key.secret.slice(`srk_${key.keyId}_`.length);
    const row = await c.tenancy.withTenant(a.id, (db) =>
      db
        .selectFrom('api_keys')
        .selectAll()
        .where('organization_id', '=', a.id)
        .where('id', '=', key.id)
        .executeTakeFirstOrThrow(),
    );
    expect(row.secret_hash).toEqual(createHash('sha256').update(secret).digest());
    expect(JSON.stringify(row)).not.toContain(secret);
    const list = await owner.browser.get('/v1/api-keys?limit=200', inOrg(a.id));
    const got = await owner.browser.get(`/v1/api-keys/${key.id}`, inOrg(a.id));
    for (const res of [list, got]) {
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain(secret);
      expect(res.body).not.toContain('"secret"');
    }
    await sealAudit(c.tenancy.withTenant, a.id);
    const audit = await c.tenancy.withTenant(a.id, (db) =>
      db
        .selectFrom('audit_events')
        .select(['action', 'metadata'])
        .where('organization_id', '=', a.id)
        .where('target_id', '=', key.id)
        .execute(),
    );
    expect(audit.map((e) => e.action)).toEqual(['api_key.created']);
    expect(JSON.stringify(audit)).not.toContain(secret);
  });

  it('organization policy applies: suspended → 403, pending deletion → read-only, being deleted → 404', async () => {
    const org = await createOrg(owner.browser, 'kpol');
    const key = await createKey(owner.browser, org.id, { name: 'policy' });
    expect((await withKey(key.secret, 'GET', '/v1/projects')).statusCode).toBe(200);
    await c.services.platform.setSuspended(owner.userId, org.id, true);
    expect((await withKey(key.secret, 'GET', '/v1/projects')).json()).toMatchObject({
      error: { code: 'ORGANIZATION_SUSPENDED' },
    });
    await c.services.platform.setSuspended(owner.userId, org.id, false);
    expect((await owner.browser.delete('/v1/organization', inOrg(org.id))).statusCode).toBe(202);
    // Pending deletion: the key still reads; its writes are refused.
    expect((await withKey(key.secret, 'GET', '/v1/projects')).statusCode).toBe(200);
    const write = await withKey(key.secret, 'DELETE', `/v1/projects/${randomUUID()}`);
    expect(write.statusCode).toBe(409);
    expect(write.json()).toMatchObject({ error: { code: 'ORGANIZATION_PENDING_DELETION' } });
    // Being deleted (docs/organization-lifecycle.md): the 404 of a missing organization.
    await c.tenancy.withTenant(org.id, (db) =>
      db
        .updateTable('organizations')
        .set({ lifecycle_state: 'suspended', suspension_reason: 'deletion', suspended_at: new Date() })
        .where('id', '=', org.id)
        .execute(),
    );
    c.services.organizationPolicies.invalidate(org.id);
    const gone = await withKey(key.secret, 'GET', '/v1/projects');
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual(ORG_NOT_FOUND);
  });

  it('user and platform routes refuse a key cleanly (never a 500)', async () => {
    const key = await createKey(owner.browser, a.id, { name: 'not a user' });
    expect((await withKey(key.secret, 'GET', '/v1/auth/me')).statusCode).toBe(403);
    const routes = routeAuthTable(c.app).filter(
      (r) => (r.auth.kind === 'user' || r.auth.kind === 'platform') && r.method !== 'HEAD',
    );
    expect(routes.length).toBeGreaterThan(5);
    for (const r of routes) {
      const url = r.url.replace(/:[A-Za-z]+/g, randomUUID());
      const res = await withKey(key.secret, r.method as Method, url, r.method === 'GET' ? undefined : {});
      expect({ route: `${r.method} ${r.url}`, ok: res.statusCode < 500 }).toEqual({
        route: `${r.method} ${r.url}`,
        ok: true,
      });
      if (r.auth.kind === 'platform') expect(res.statusCode).toBe(403);
    }
    // Still a working key for its organization.
    expect((await withKey(key.secret, 'GET', '/v1/projects')).statusCode).toBe(200);
  });
});
