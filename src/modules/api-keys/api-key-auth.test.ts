import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import { allPermissions, type Permission } from '../../platform/authz/permissions.js';
import type { ApiKeyAuthRow } from '../../platform/tenancy/privileged.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { identityFixtures, userCtx } from '../memberships/memberships.test-support.js';
import { bearerApiKey, parseApiKey } from './api-key-format.js';
import { createApiKeyAuth, type ApiKeyAuth } from './api-key-auth.js';
import { createApiKeyRateLimiter, rateLimitHeaders } from './api-key-rate-limit.js';
import { createApiKeysService, type ApiKeysService } from './api-keys.service.js';

const ALL = new Set<Permission>(allPermissions);
const req = (authorization?: string) => ({ headers: { authorization } }) as unknown as FastifyRequest;
const errorOf = async (p: Promise<unknown> | null) => {
  try {
    await p;
    return null;
  } catch (e) {
    const err = e as { code: string; message: string; status: number; details?: unknown };
    return { code: err.code, message: err.message, status: err.status, details: err.details };
  }
};

describe('API key format', () => {
  it('recognises only srk_ bearers; JWTs and other schemes are not API keys', () => {
    expect(bearerApiKey('Bearer srk_abc')).toBe('srk_abc');
    expect(bearerApiKey('bearer   srk_abc ')).toBe('srk_abc');
    expect(bearerApiKey('Bearer eyJhbGciOi.eyJzdWIi.sig')).toBeUndefined();
    expect(bearerApiKey('Basic srk_abc')).toBeUndefined();
    expect(bearerApiKey(undefined)).toBeUndefined();
    expect(parseApiKey('srk_0123456789abcdef_' + 'a'.repeat(43))).toEqual({
      keyId: '0123456789abcdef',
      secret: 'a'.repeat(43),
    });
    for (const bad of ['srk_', 'srk_0123456789abcdef_short', 'srk_0123456789ABCDEF_' + 'a'.repeat(43)]) {
      expect(parseApiKey(bad)).toBeUndefined();
    }
  });
});

describe('API key rate limiter', () => {
  it('counts a fixed window per key and says when it resets', () => {
    let t = 1_000_000;
    const limiter = createApiKeyRateLimiter({ now: () => t });
    const org = '00000000-0000-7000-8000-000000000001';
    expect(limiter.consume(org, 'k1', 2)).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 60 });
    t += 30_500;
    expect(limiter.consume(org, 'k1', 2)).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 30 });
    const over = limiter.consume(org, 'k1', 2);
    expect(over).toMatchObject({ allowed: false, remaining: 0 });
    expect(rateLimitHeaders(over)).toEqual({
      'ratelimit-limit': '2',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '30',
      'ratelimit-policy': '2;w=60',
      'retry-after': '30',
    });
    expect(limiter.consume(org, 'k2', 2).allowed).toBe(true); // another key, another budget
    t += 30_000;
    expect(limiter.consume(org, 'k1', 2)).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 60 });
  });
});

describe('API key authentication (real database)', () => {
  let tenancy: Tenancy;
  let keys: ApiKeysService;
  let auth: ApiKeyAuth;
  let clock = Date.now();
  let lookups = 0;
  let writes = 0;
  let gate: Promise<void> | null = null;
  let orgId: string;
  let ctx: ReturnType<typeof userCtx>;

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    const countingWithTenant: WithTenant = (tenantId, fn, opts) => {
      writes++;
      return tenancy.withTenant(tenantId, fn, opts);
    };
    auth = createApiKeyAuth({
      lookup: async (keyId, secretHash): Promise<ApiKeyAuthRow | null> => {
        lookups++;
        const row = await tenancy.privileged.apiKeyByKeyId(keyId, secretHash);
        if (gate) await gate;
        return row;
      },
      withTenant: countingWithTenant,
      usageIntervalMs: 3600_000,
      now: () => clock,
    });
    keys = createApiKeysService({ withTenant: tenancy.withTenant, onRevoked: (k) => auth.invalidate(k) });
    orgId = await createTestOrg(tenancy, 'kauth');
    ctx = userCtx(orgId, await identityFixtures(tenancy).member(orgId, { role: 'owner' }));
  });
  afterAll(async () => {
    await auth.close();
    await tenancy.close();
  });

  const newKey = async (
    input: { scopes?: Permission[]; expiresAt?: string; rateLimitPerMinute?: number } = {},
  ) =>
    (await keys.create(ctx, { name: 'k', scopes: input.scopes ?? ['projects:read'], ...input }, ALL)).apiKey;

  it('verifies a key: its organization and scopes; the next request does no query', async () => {
    const key = await newKey({ scopes: ['projects:read', 'projects:create'] });
    const before = lookups;
    const verified = await auth.authenticate(req(`Bearer ${key.secret}`));
    expect(verified).toEqual({
      id: key.id,
      organizationId: orgId,
      permissions: new Set(['projects:read', 'projects:create']),
    });
    await auth.authenticate(req(`Bearer ${key.secret}`));
    expect(lookups - before).toBe(1);
    expect(auth.authenticate(req())).toBeNull();
    expect(auth.authenticate(req('Bearer a.b.c'))).toBeNull();
  });

  it('malformed keys, unknown key ids and wrong secrets get one answer; unknown ids are remembered briefly', async () => {
    const key = await newKey();
    const { keyId, secret } = parseApiKey(key.secret!)!;
    const wrong = `srk_${keyId}_${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    const expected = {
      code: 'API_KEY_INVALID',
      message: 'API key is invalid',
      status: 401,
      details: undefined,
    };
    const before = lookups;
    for (const presented of [
      'srk_',
      'srk_nope',
      wrong,
      `srk_0000000000000000_${secret}`,
      `srk_0000000000000000_${secret}`,
    ]) {
      expect(await errorOf(auth.authenticate(req(`Bearer ${presented}`)))).toEqual(expected);
    }
    // The wrong secret's lookup, then ONE lookup for the unknown id presented twice.
    expect(lookups - before).toBe(2);
    // A created key's id is forgotten as unknown (the service publishes it): looked up again.
    auth.invalidate('0000000000000000');
    expect(await errorOf(auth.authenticate(req(`Bearer srk_0000000000000000_${secret}`)))).toEqual(expected);
    expect(lookups - before).toBe(3);
  });

  it('a revoked key is refused on the very next request, although it was cached', async () => {
    const key = await newKey();
    await auth.authenticate(req(`Bearer ${key.secret}`));
    await keys.revoke(ctx, key.id);
    expect(await errorOf(auth.authenticate(req(`Bearer ${key.secret}`)))).toMatchObject({
      code: 'API_KEY_REVOKED',
      status: 401,
    });
  });

  it('a revocation during a lookup in flight is not undone by the lookup’s stale result', async () => {
    const key = await newKey();
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const pending = auth.authenticate(req(`Bearer ${key.secret}`));
    await new Promise((r) => setTimeout(r, 50)); // the lookup has read the row (not revoked yet)
    await keys.revoke(ctx, key.id);
    gate = null;
    open();
    await pending; // it was valid when it was read
    expect(await errorOf(auth.authenticate(req(`Bearer ${key.secret}`)))).toMatchObject({
      code: 'API_KEY_REVOKED',
    });
  });

  it('expiry is checked on every request against the cached expiry', async () => {
    const key = await newKey({ expiresAt: new Date(clock + 60_000).toISOString() });
    await auth.authenticate(req(`Bearer ${key.secret}`));
    const before = lookups;
    clock += 61_000;
    expect(await errorOf(auth.authenticate(req(`Bearer ${key.secret}`)))).toMatchObject({
      code: 'API_KEY_EXPIRED',
      status: 401,
    });
    expect(lookups).toBe(before);
  });

  it('rate limit per key: state on the request, then RATE_LIMITED with the seconds to wait', async () => {
    const key = await newKey({ rateLimitPerMinute: 3 });
    for (let i = 2; i >= 0; i--) {
      const r = req(`Bearer ${key.secret}`);
      await auth.authenticate(r);
      expect(r.apiKeyRateLimit).toMatchObject({ limit: 3, remaining: i, allowed: true });
    }
    const r = req(`Bearer ${key.secret}`);
    const err = await errorOf(auth.authenticate(r));
    expect(err).toMatchObject({ code: 'RATE_LIMITED', status: 429, details: { retryAfterSeconds: 60 } });
    expect(r.apiKeyRateLimit).toMatchObject({ allowed: false, remaining: 0 });
    clock += 60_000;
    await expect(auth.authenticate(req(`Bearer ${key.secret}`))).resolves.toMatchObject({ id: key.id });
    const dflt = await newKey();
    const d = req(`Bearer ${dflt.secret}`);
    await auth.authenticate(d);
    expect(d.apiKeyRateLimit).toMatchObject({ limit: 600, remaining: 599, windowSeconds: 60 });
  });

  it('last_used_at is written in batches: nothing until a flush, then one statement and the latest use', async () => {
    await auth.flush();
    const key = await newKey();
    const other = await newKey();
    const writesBefore = writes;
    const first = clock;
    for (let i = 0; i < 20; i++) {
      clock += 1000;
      await auth.authenticate(req(`Bearer ${(i % 2 ? key : other).secret}`));
    }
    const lastUsed = () =>
      tenancy.withTenant(orgId, (db) =>
        db
          .selectFrom('api_keys')
          .select(['id', 'last_used_at'])
          .where('organization_id', '=', orgId)
          .where('id', 'in', [key.id, other.id])
          .orderBy('id')
          .execute(),
      );
    expect((await lastUsed()).map((r) => r.last_used_at)).toEqual([null, null]);
    expect(writes).toBe(writesBefore);
    await auth.flush();
    expect(writes).toBe(writesBefore + 1); // one organization, one statement
    expect((await lastUsed()).map((r) => r.last_used_at?.getTime())).toEqual([
      first + 20_000,
      first + 19_000,
    ]);

    // Never moves backward (batches from several instances arrive in any order).
    await tenancy.withTenant(orgId, (db) =>
      db
        .updateTable('api_keys')
        .set({ last_used_at: new Date(clock + 3600_000) })
        .where('organization_id', '=', orgId)
        .where('id', '=', key.id)
        .execute(),
    );
    clock += 1000;
    await auth.authenticate(req(`Bearer ${key.secret}`));
    await auth.flush();
    const row = (await lastUsed()).find((r) => r.id === key.id)!;
    expect(row.last_used_at?.getTime()).toBe(clock - 1000 + 3600_000);
    await auth.flush();
    expect(writes).toBe(writesBefore + 2); // an empty flush writes nothing
  });
});
