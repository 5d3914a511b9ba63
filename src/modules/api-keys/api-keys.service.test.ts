import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy, createTestOrg } from '../../../test/support/tenancy.js';
import { allPermissions, type Permission } from '../../platform/authz/permissions.js';
import { builtInRoles } from '../../platform/authz/roles.js';
import { uuidv7 } from '../../platform/ids.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { identityFixtures, userCtx } from '../memberships/memberships.test-support.js';
import { parseApiKey } from './api-key-format.js';
import { createApiKeysService, type ApiKeysService } from './api-keys.service.js';
import { sealAudit } from '../../../test/support/audit.js';

const ALL = new Set<Permission>(allPermissions);
const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '', status: 0 }),
    (e: { code: string; message: string; status: number }) => ({
      code: e.code,
      message: e.message,
      status: e.status,
    }),
  );

describe('api keys service (through the tenancy core)', () => {
  let tenancy: Tenancy;
  let keys: ApiKeysService;
  const revoked: string[] = [];
  let a: TenantCtx;
  let b: TenantCtx;

  const auditOf = async (ctx: TenantCtx, targetId: string) => {
    await sealAudit(tenancy.withTenant, ctx.tenantId);
    return tenancy.withTenant(ctx.tenantId, (db) =>
      db
        .selectFrom('audit_events')
        .select(['action', 'actor_type', 'actor_id', 'metadata'])
        .where('organization_id', '=', ctx.tenantId)
        .where('target_id', '=', targetId)
        .orderBy('seq')
        .execute(),
    );
  };

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    keys = createApiKeysService({ withTenant: tenancy.withTenant, onRevoked: (k) => revoked.push(k) });
    const fx = identityFixtures(tenancy);
    const orgA = await createTestOrg(tenancy, 'ka');
    const orgB = await createTestOrg(tenancy, 'kb');
    a = userCtx(orgA, await fx.member(orgA, { role: 'owner' }));
    b = userCtx(orgB, await fx.member(orgB, { role: 'owner' }));
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('creates a key shown once; the database holds only the SHA-256 of its secret', async () => {
    const { apiKey } = await keys.create(a, { name: 'ci', scopes: ['projects:read', 'projects:read'] }, ALL);
    expect(apiKey.secret).toMatch(/^srk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const parsed = parseApiKey(apiKey.secret!)!;
    expect(parsed.keyId).toBe(apiKey.keyId);
    expect(apiKey).toMatchObject({
      name: 'ci',
      scopes: ['projects:read'],
      revokedAt: null,
      lastUsedAt: null,
    });
    const row = await tenancy.withTenant(a.tenantId, (db) =>
      db
        .selectFrom('api_keys')
        .selectAll()
        .where('organization_id', '=', a.tenantId)
        .where('id', '=', apiKey.id)
        .executeTakeFirstOrThrow(),
    );
    expect(row.secret_hash).toEqual(createHash('sha256').update(parsed.secret).digest());
    expect(JSON.stringify(row)).not.toContain(parsed.secret);
    expect(row.created_by_user_id).toBe((a.actor as { userId: string }).userId);

    const shown = await keys.get(a, apiKey.id);
    const { secret: _secret, ...withoutSecret } = apiKey;
    expect(shown).toEqual(withoutSecret);
    const listed = (await keys.list(a)).data.find((k) => k.id === apiKey.id);
    expect(listed).toEqual(withoutSecret);
    for (const text of [JSON.stringify(shown), JSON.stringify(listed)]) {
      expect(text).not.toContain(parsed.secret);
      expect(text).not.toMatch(/secret|hash/i);
    }
  });

  it('audits creation and revocation in the same transaction, without the secret', async () => {
    const { apiKey } = await keys.create(a, { name: 'audited', scopes: ['projects:read'] }, ALL);
    await keys.revoke(a, apiKey.id);
    await keys.revoke(a, apiKey.id); // twice is fine, and changes nothing
    const events = await auditOf(a, apiKey.id);
    expect(events.map((e) => e.action)).toEqual(['api_key.created', 'api_key.revoked']);
    expect(events[0]).toMatchObject({
      actor_type: 'user',
      actor_id: (a.actor as { userId: string }).userId,
      metadata: { name: 'audited', scopes: ['projects:read'], key_id: apiKey.keyId },
    });
    expect(JSON.stringify(events)).not.toContain(parseApiKey(apiKey.secret!)!.secret);
    expect((await keys.get(a, apiKey.id)).revokedAt).not.toBeNull();
    expect(revoked.filter((k) => k === apiKey.keyId).length).toBeGreaterThan(0);
  });

  it('scopes must be known permissions the creator holds', async () => {
    await expect(keys.create(a, { name: 'x', scopes: ['projects:fly'] }, ALL)).rejects.toMatchObject({
      code: 'API_KEY_SCOPES_INVALID',
      status: 400,
    });
    const admin = new Set<Permission>(builtInRoles.admin);
    await expect(
      keys.create(a, { name: 'x', scopes: ['projects:read', 'org:delete', 'billing:manage'] }, admin),
    ).rejects.toMatchObject({
      code: 'API_KEY_SCOPES_NOT_ALLOWED',
      status: 403,
      details: { missing: ['billing:manage', 'org:delete'] },
    });
    const ok = await keys.create(a, { name: 'x', scopes: ['projects:read', 'members:read'] }, admin);
    expect(ok.apiKey.scopes).toEqual(['members:read', 'projects:read']);
    const none = await keys.create(a, { name: 'no scopes', scopes: [] }, new Set());
    expect(none.apiKey.scopes).toEqual([]);
  });

  it('expiry must be in the future; the rate limit is kept', async () => {
    const at = new Date(Date.now() + 3600_000).toISOString();
    const { apiKey } = await keys.create(
      a,
      { name: 'short', scopes: [], expiresAt: at, rateLimitPerMinute: 42 },
      ALL,
    );
    expect(apiKey.expiresAt).toBe(at);
    expect(apiKey.rateLimitPerMinute).toBe(42);
    await expect(
      keys.create(a, { name: 'x', scopes: [], expiresAt: new Date(Date.now() - 1000).toISOString() }, ALL),
    ).rejects.toMatchObject({ code: 'API_KEY_EXPIRY_INVALID' });
  });

  it('another organization’s key is not found, exactly like a missing one', async () => {
    const { apiKey } = await keys.create(a, { name: 'secret-a', scopes: [] }, ALL);
    const missing = await failure(keys.get(b, uuidv7()));
    expect(missing).toEqual({ code: 'API_KEY_NOT_FOUND', message: 'API key not found', status: 404 });
    expect(await failure(keys.get(b, apiKey.id))).toEqual(missing);
    expect(await failure(keys.get(b, 'not-a-uuid'))).toEqual(missing);
    expect(await failure(keys.revoke(b, apiKey.id))).toEqual(missing);
    expect(await failure(keys.revoke(b, uuidv7()))).toEqual(missing);
    expect((await keys.list(b)).data.map((k) => k.id)).not.toContain(apiKey.id);
    expect((await keys.get(a, apiKey.id)).revokedAt).toBeNull();
  });

  it('paginates newest first with an opaque cursor', async () => {
    const org = userCtx(await createTestOrg(tenancy, 'kp'), (a.actor as { userId: string }).userId);
    // The creator id is only recorded; the fixture user need not be a member of this organization.
    const made: string[] = [];
    for (let i = 0; i < 5; i++)
      made.push((await keys.create(org, { name: `k${i}`, scopes: [] }, ALL)).apiKey.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await keys.list(org, { limit: 2, cursor });
      seen.push(...page.data.map((k) => k.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...made].reverse());
    await expect(keys.list(org, { cursor: 'garbage' })).rejects.toMatchObject({ code: 'INVALID_CURSOR' });
  });

  it('an idempotency key makes a retry return the first key, without showing its secret again', async () => {
    const key = `k-${uuidv7()}`;
    const first = await keys.create(a, { name: 'once', scopes: ['projects:read'] }, ALL, {
      idempotencyKey: key,
    });
    expect(first.replayed).toBe(false);
    expect(first.apiKey.secret).toMatch(/^srk_/);
    const again = await keys.create(a, { name: 'once', scopes: ['projects:read'] }, ALL, {
      idempotencyKey: key,
    });
    expect(again).toEqual({ apiKey: { ...first.apiKey, secret: null }, replayed: true });
    await expect(
      keys.create(a, { name: 'other', scopes: [] }, ALL, { idempotencyKey: key }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    // Nothing stored for the replay holds the secret.
    const stored = await tenancy.withTenant(a.tenantId, (db) =>
      db
        .selectFrom('idempotency_keys')
        .select('response')
        .where('organization_id', '=', a.tenantId)
        .where('key', '=', key)
        .executeTakeFirstOrThrow(),
    );
    expect(JSON.stringify(stored)).not.toContain(parseApiKey(first.apiKey.secret!)!.secret);

    const org = userCtx(await createTestOrg(tenancy, 'ki'), (a.actor as { userId: string }).userId);
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        keys.create(org, { name: 'concurrent', scopes: [] }, ALL, { idempotencyKey: key }),
      ),
    );
    expect(new Set(results.map((r) => r.apiKey.id)).size).toBe(1);
    expect(results.filter((r) => r.apiKey.secret !== null)).toHaveLength(1);
    expect((await keys.list(org)).data).toHaveLength(1);
  });

  it('the named privileged lookup finds a key by its public id and secret, never handing out the stored hash', async () => {
    const { apiKey } = await keys.create(
      b,
      { name: 'lookup', scopes: ['projects:read'], rateLimitPerMinute: 7 },
      ALL,
    );
    const secretHash = createHash('sha256').update(parseApiKey(apiKey.secret!)!.secret).digest();
    const row = await tenancy.privileged.apiKeyByKeyId(apiKey.keyId, secretHash);
    expect(row).toEqual({
      organizationId: b.tenantId,
      id: apiKey.id,
      scopes: ['projects:read'],
      expiresAt: null,
      revokedAt: null,
      rateLimitPerMinute: 7,
    });
    const wrong = createHash('sha256').update('not the secret').digest();
    expect(await tenancy.privileged.apiKeyByKeyId(apiKey.keyId, wrong)).toBeNull();
    expect(await tenancy.privileged.apiKeyByKeyId('0000000000000000', secretHash)).toBeNull();
    expect(await tenancy.privileged.apiKeyByKeyId("x' or 1=1 --", secretHash)).toBeNull();
  });
});
