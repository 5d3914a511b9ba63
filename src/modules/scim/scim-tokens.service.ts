import { recordAudit } from '../../platform/audit/record.js';
import { uuidv7 } from '../../platform/ids.js';
import { requestHash, withIdempotency } from '../../platform/idempotency.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { scimTokenByApiKey, scimTokenNotFound } from './scim.errors.js';
import { newScimToken } from './scim-token-format.js';
import * as repo from './scim-tokens.repository.js';

export interface ScimToken {
  id: string;
  tokenId: string;
  createdByUserId: string | null;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface ScimEvent {
  id: string;
  at: string;
  method: string;
  resource: string;
  resourceId: string | null;
  status: number;
  outcome: string;
}

export interface ScimTokensService {
  /** A new token; `secret` is the full token, shown in this answer only (null in an idempotent replay). */
  create(
    ctx: TenantCtx,
    opts?: { idempotencyKey?: string },
  ): Promise<{ token: ScimToken & { secret: string | null }; replayed: boolean }>;
  /** A new token replacing `id`, which is revoked in the same transaction (no grace period). */
  rotate(ctx: TenantCtx, id: string): Promise<ScimToken & { secret: string }>;
  /** Revokes a token: the next request with it is refused. Revoking twice is fine. */
  revoke(ctx: TenantCtx, id: string): Promise<void>;
  list(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<ScimToken>>;
  /** The sync log, newest first. */
  events(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<ScimEvent>>;
}

const toToken = (r: repo.ScimTokenRow): ScimToken => ({
  id: r.id,
  tokenId: r.token_id,
  createdByUserId: r.created_by_user_id,
  createdAt: r.created_at.toISOString(),
  revokedAt: r.revoked_at?.toISOString() ?? null,
  lastUsedAt: r.last_used_at?.toISOString() ?? null,
});

const toEvent = (r: repo.ScimEventRow): ScimEvent => ({
  id: r.id,
  at: r.at.toISOString(),
  method: r.method,
  resource: r.resource,
  resourceId: r.resource_id,
  status: r.status,
  outcome: r.outcome,
});

/**
 * SCIM bearer tokens of an organization. Tokens are resolved on every SCIM request by the named lookup
 * `app_priv_scim_token` (migration 0057) and never cached, so a revocation (which deletes the token's
 * lookup row) is effective on every instance from the next request on.
 */
export function createScimTokensService(deps: { withTenant: WithTenant }): ScimTokensService {
  const { withTenant } = deps;

  async function insert(ctx: TenantCtx, db: TenantDb, rotatedFrom?: string) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const { token, tokenId, secretHash } = newScimToken();
      const row = await repo.insertScimToken(
        db,
        {
          organization_id: ctx.tenantId,
          id: uuidv7(),
          token_id: tokenId,
          created_by_user_id: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
        },
        secretHash,
      );
      if (!row) continue;
      await recordAudit(db, ctx, {
        action: rotatedFrom ? 'scim_token.rotated' : 'scim_token.created',
        target: { type: 'scim_token', id: row.id },
        metadata: { token_id: row.token_id, ...(rotatedFrom ? { replaces: rotatedFrom } : {}) },
      });
      return { token: toToken(row), secret: token };
    }
    throw new Error('could not draw an unused SCIM token id');
  }

  return {
    async create(ctx, opts) {
      if (ctx.actor.kind === 'api_key') throw scimTokenByApiKey();
      return withTenant(ctx.tenantId, async (db) => {
        if (!opts?.idempotencyKey) {
          const { token, secret } = await insert(ctx, db);
          return { token: { ...token, secret }, replayed: false };
        }
        // The stored response never holds the secret: a replay answers `secret: null`.
        let secret: string | null = null;
        const { result, replayed } = await withIdempotency(
          db,
          ctx.tenantId,
          { scope: 'scim_tokens.create', key: opts.idempotencyKey, hash: requestHash({}) },
          async () => {
            const created = await insert(ctx, db);
            secret = created.secret;
            return created.token;
          },
        );
        return { token: { ...result, secret }, replayed };
      });
    },

    async rotate(ctx, id) {
      if (ctx.actor.kind === 'api_key') throw scimTokenByApiKey();
      if (!isTenantId(id)) throw scimTokenNotFound();
      return withTenant(ctx.tenantId, async (db) => {
        const old = await repo.findScimToken(db, ctx.tenantId, id);
        if (!old || old.revoked_at) throw scimTokenNotFound();
        await repo.revokeScimToken(db, ctx.tenantId, id);
        const { token, secret } = await insert(ctx, db, id);
        return { ...token, secret };
      });
    },

    async revoke(ctx, id) {
      if (!isTenantId(id)) throw scimTokenNotFound();
      await withTenant(ctx.tenantId, async (db) => {
        const row = await repo.findScimToken(db, ctx.tenantId, id);
        if (!row) throw scimTokenNotFound();
        if (row.revoked_at) return;
        await repo.revokeScimToken(db, ctx.tenantId, id);
        await recordAudit(db, ctx, {
          action: 'scim_token.revoked',
          target: { type: 'scim_token', id },
          metadata: { token_id: row.token_id },
        });
      });
    },

    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listScimTokens(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toToken);
    },

    async events(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const before = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listScimEvents(db, ctx.tenantId, { before, limit: limit + 1 }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toEvent);
    },
  };
}

/**
 * The sync log's writer: one `scim_events` row per SCIM request (method, resource, its id, status and a
 * short outcome; never a token or a body), and the token's `last_used_at`, in one transaction.
 */
export function createScimEventSink(deps: { withTenant: WithTenant }) {
  return async (
    ctx: TenantCtx & { scimTokenId: string },
    e: { method: string; resource: string; resourceId: string | null; status: number; outcome: string },
  ): Promise<void> => {
    await deps.withTenant(ctx.tenantId, async (db) => {
      await repo.insertScimEvent(db, {
        organization_id: ctx.tenantId,
        id: uuidv7(),
        method: e.method,
        resource: e.resource,
        resource_id: e.resourceId,
        status: e.status,
        outcome: e.outcome,
      });
      await repo.touchScimToken(db, ctx.tenantId, ctx.scimTokenId);
    });
  };
}
