import type { Permission } from '../../platform/authz/permissions.js';
import { isPermission } from '../../platform/authz/roles.js';
import { recordAudit } from '../../platform/audit/record.js';
import { uuidv7 } from '../../platform/ids.js';
import { requestHash, withIdempotency } from '../../platform/idempotency.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { newApiKey } from './api-key-format.js';
import { ApiKeysError, apiKeyNotFound } from './api-keys.errors.js';
import * as repo from './api-keys.repository.js';

/** An API key as the API shows it: never its secret or hash. */
export interface ApiKey {
  id: string;
  /** The public part of the key (`srk_<keyId>_…`), to recognise it in lists and logs. */
  keyId: string;
  name: string;
  scopes: Permission[];
  rateLimitPerMinute: number | null;
  createdByUserId: string | null;
  createdByKeyId: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/**
 * What creating a key returns: the key, and the full key string (`secret`), shown this once only. A
 * replay of an idempotent create has `secret: null`: the secret is not stored anywhere to show again.
 */
export interface CreatedApiKey extends ApiKey {
  secret: string | null;
}

export interface CreateApiKeyInput {
  name: string;
  scopes: readonly string[];
  /** ISO date-time in the future. */
  expiresAt?: string;
  rateLimitPerMinute?: number;
}

export interface ApiKeysService {
  /**
   * Creates a key whose scopes must be a subset of `grantable`, the creator's own permissions in the
   * organization. The result carries the full key (`secret`), which is never shown again. With an
   * idempotency key, a retry returns the first key (`replayed`) with `secret: null`.
   * @throws API_KEY_SCOPES_INVALID (400, unknown permission), API_KEY_SCOPES_NOT_ALLOWED (403, above the
   *   creator's), API_KEY_EXPIRY_INVALID (400, not in the future)
   */
  create(
    ctx: TenantCtx,
    input: CreateApiKeyInput,
    grantable: ReadonlySet<Permission>,
    opts?: { idempotencyKey?: string },
  ): Promise<{ apiKey: CreatedApiKey; replayed: boolean }>;
  /** One key; API_KEY_NOT_FOUND for a missing id and for any other organization's key alike. */
  get(ctx: TenantCtx, id: string): Promise<ApiKey>;
  /** Newest first, cursor-paginated, revoked and expired keys included. */
  list(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<ApiKey>>;
  /** Revokes a key; it is refused from the next request on, on every instance. Revoking twice is fine. */
  revoke(ctx: TenantCtx, id: string): Promise<void>;
}

export interface ApiKeysServiceDeps {
  withTenant: WithTenant;
  /** Called after a revocation commits, with the key's public id: drops every cached copy of the key. */
  onRevoked: (keyId: string) => void;
  /** Called after a creation commits, with the key's public id: forgets it was ever unknown. */
  onCreated?: (keyId: string) => void;
  /** The clock (tests move it); default the system clock. */
  now?: () => Date;
}

const toApiKey = (r: repo.ApiKeyView): ApiKey => ({
  id: r.id,
  keyId: r.key_id,
  name: r.name,
  scopes: r.scopes.filter(isPermission),
  rateLimitPerMinute: r.rate_limit_per_minute,
  createdByUserId: r.created_by_user_id,
  createdByKeyId: r.created_by_key_id,
  createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at?.toISOString() ?? null,
  revokedAt: r.revoked_at?.toISOString() ?? null,
  lastUsedAt: r.last_used_at?.toISOString() ?? null,
});

/** Organization API keys: creation (shown once), listing, revocation, each audited in its transaction. */
export function createApiKeysService(deps: ApiKeysServiceDeps): ApiKeysService {
  const { withTenant } = deps;
  const now = deps.now ?? (() => new Date());

  function checkScopes(scopes: readonly string[], grantable: ReadonlySet<Permission>): Permission[] {
    const unknown = scopes.filter((s) => !isPermission(s));
    if (unknown.length > 0) {
      throw new ApiKeysError('API_KEY_SCOPES_INVALID', `unknown permission(s): ${unknown.join(', ')}`, {
        unknown,
      });
    }
    const requested = [...new Set(scopes as Permission[])].sort();
    const missing = requested.filter((p) => !grantable.has(p));
    if (missing.length > 0) {
      throw new ApiKeysError(
        'API_KEY_SCOPES_NOT_ALLOWED',
        'a key cannot have permissions its creator does not have',
        { missing },
      );
    }
    return requested;
  }

  function checkExpiry(expiresAt: string | undefined): Date | null {
    if (expiresAt === undefined) return null;
    const at = new Date(expiresAt);
    if (Number.isNaN(at.getTime()) || at.getTime() <= now().getTime()) {
      throw new ApiKeysError('API_KEY_EXPIRY_INVALID', 'expiresAt must be a date-time in the future');
    }
    return at;
  }

  /** Inserts the key and its audit event; returns the key (without its secret) and the full key string. */
  async function insert(ctx: TenantCtx, db: TenantDb, input: CreateApiKeyInput, scopes: Permission[]) {
    const expiresAt = checkExpiry(input.expiresAt);
    // A key id collision (64 random bits) is astronomically rare; drawing again covers it.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { key, keyId, secretHash } = newApiKey();
      const row = await repo.insertApiKey(db, {
        organization_id: ctx.tenantId,
        id: uuidv7(),
        key_id: keyId,
        name: input.name,
        scopes,
        secret_hash: secretHash,
        created_by_user_id: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
        created_by_key_id: ctx.actor.kind === 'api_key' ? ctx.actor.keyId : null,
        rate_limit_per_minute: input.rateLimitPerMinute ?? null,
        expires_at: expiresAt,
      });
      if (!row) continue;
      await recordAudit(db, ctx, {
        action: 'api_key.created',
        target: { type: 'api_key', id: row.id },
        metadata: {
          name: row.name,
          scopes: row.scopes,
          key_id: row.key_id,
          expires_at: row.expires_at?.toISOString() ?? null,
          rate_limit_per_minute: row.rate_limit_per_minute,
        },
      });
      return { apiKey: toApiKey(row), key };
    }
    throw new Error('could not draw an unused API key id');
  }

  return {
    async create(ctx, input, grantable, opts) {
      // A key minting keys would outlive its own revocation or expiry: only people create keys.
      if (ctx.actor.kind === 'api_key') {
        throw new ApiKeysError(
          'API_KEY_CANNOT_CREATE_KEYS',
          'an API key cannot create API keys: create them signed in as a member',
        );
      }
      const scopes = checkScopes(input.scopes, grantable);
      checkExpiry(input.expiresAt);
      const created = await withTenant(ctx.tenantId, async (db) => {
        if (!opts?.idempotencyKey) {
          const { apiKey, key } = await insert(ctx, db, input, scopes);
          return { apiKey: { ...apiKey, secret: key }, replayed: false };
        }
        // The stored response (for replays) never holds the secret: a replay answers `secret: null`.
        let key: string | null = null;
        const { result, replayed } = await withIdempotency(
          db,
          ctx.tenantId,
          { scope: 'api_keys.create', key: opts.idempotencyKey, hash: requestHash({ ...input, scopes }) },
          async () => {
            const created = await insert(ctx, db, input, scopes);
            key = created.key;
            return created.apiKey;
          },
        );
        return { apiKey: { ...result, secret: key }, replayed };
      });
      if (!created.replayed) deps.onCreated?.(created.apiKey.keyId);
      return created;
    },

    async get(ctx, id) {
      if (!isTenantId(id)) throw apiKeyNotFound();
      const row = await withTenant(ctx.tenantId, (db) => repo.findApiKey(db, ctx.tenantId, id), {
        mode: 'read',
      });
      if (!row) throw apiKeyNotFound();
      return toApiKey(row);
    },

    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listApiKeys(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toApiKey);
    },

    async revoke(ctx, id) {
      if (!isTenantId(id)) throw apiKeyNotFound();
      const revoked = await withTenant(ctx.tenantId, async (db) => {
        const change = await repo.revokeApiKey(db, ctx.tenantId, id);
        if (!change) throw apiKeyNotFound();
        if (!change.before.revoked_at) {
          await recordAudit(db, ctx, {
            action: 'api_key.revoked',
            target: { type: 'api_key', id },
            metadata: { name: change.after.name, scopes: change.after.scopes, key_id: change.after.key_id },
          });
        }
        return change.after;
      });
      // After the commit: every instance drops the key, so the next request with it is refused.
      deps.onRevoked(revoked.key_id);
    },
  };
}
