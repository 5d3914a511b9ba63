import { LRUCache } from 'lru-cache';
import { pipelinedQuery } from './pipelined-query.js';
import { tenantCacheKey, type CacheKey } from './cache-keys.js';
import { TenancyError } from './errors.js';
import type { TenantDatabase } from './tenant-database.js';

/** Where a tenant's rows live. `pooled` (the default) is the shared schema of the control database. */
export type PlacementKind = 'pooled' | 'schema' | 'database';

export interface PlacementRecord {
  readonly kind: PlacementKind;
  /** For `database` placements: the key of a configured tenant database. */
  readonly databaseKey: string | null;
}

/** Resolves a tenant to the database that holds its rows. */
export interface PlacementRouter {
  resolve(tenantId: string): Promise<TenantDatabase>;
  /** Forgets a cached placement (after a tenant is moved). */
  invalidate(tenantId: string): void;
}

export interface PlacementRouterOptions {
  /** The control database: holds `tenant_placements` and every pooled tenant. */
  readonly control: TenantDatabase;
  /** Dedicated databases by key, for `database` placements. */
  readonly databases?: ReadonlyMap<string, TenantDatabase>;
  readonly ttlMs?: number;
  readonly max?: number;
}

const POOLED: PlacementRecord = { kind: 'pooled', databaseKey: null };
const LOOKUP = 'select kind, database_key from tenant_placements where organization_id = $1';

/**
 * Placement routing through an in-process cache (it sits on the hot path of every `withTenant`,
 * so it is never a network hop). A tenant without a record is pooled. The lookup itself is a
 * one-round-trip tenant-scoped read: `tenant_placements` is protected by RLS like every other table.
 */
export function createPlacementRouter(opts: PlacementRouterOptions): PlacementRouter {
  const cache = new LRUCache<CacheKey, PlacementRecord>({
    max: opts.max ?? 100_000,
    ttl: opts.ttlMs ?? 60_000,
  });
  const inflight = new Map<CacheKey, Promise<PlacementRecord>>();

  async function lookup(tenantId: string): Promise<PlacementRecord> {
    const client = await opts.control.pool.connect();
    try {
      const res = await pipelinedQuery(client, opts.control.setter.prelude(tenantId, 'read'), LOOKUP, [
        tenantId,
      ]);
      const row = res.rows[0] as { kind: PlacementKind; database_key: string | null } | undefined;
      return row ? { kind: row.kind, databaseKey: row.database_key } : POOLED;
    } finally {
      client.release();
    }
  }

  function route(record: PlacementRecord): TenantDatabase {
    if (record.kind === 'pooled') return opts.control;
    if (record.kind === 'database' && record.databaseKey) {
      const db = opts.databases?.get(record.databaseKey);
      if (db) return db;
    }
    throw new TenancyError(
      'PLACEMENT_UNSUPPORTED',
      `placement ${record.kind}${record.databaseKey ? `:${record.databaseKey}` : ''} is not configured on this server`,
    );
  }

  return {
    async resolve(tenantId) {
      const key = tenantCacheKey(tenantId, 'placement');
      const hit = cache.get(key);
      if (hit) return route(hit);
      let pending = inflight.get(key);
      if (!pending) {
        pending = lookup(tenantId).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      const record = await pending;
      cache.set(key, record);
      return route(record);
    },
    invalidate(tenantId) {
      cache.delete(tenantCacheKey(tenantId, 'placement'));
    },
  };
}
