import pg from 'pg';
import { PlacementMoveError } from './tenant-placement.errors.js';

/**
 * Owner-role pools of the configured tenant databases (`TENANT_DATABASES[key].ownerUrl`), opened on a
 * move's first use: the target side of moves into a `database` placement. A key without `ownerUrl` has
 * none (such moves are refused). Small (2 connections: the copy's writes, the freeze's transaction),
 * idle connections closed after 10 s.
 */
export function createTargetOwners(
  databases: Readonly<Record<string, { readonly ownerUrl?: string }>> = {},
): {
  get(key: string): pg.Pool | undefined;
  close(): Promise<void>;
} {
  const pools = new Map<string, pg.Pool>();
  return {
    get(key) {
      const url = Object.hasOwn(databases, key) ? databases[key]!.ownerUrl : undefined;
      if (url === undefined) return undefined;
      let pool = pools.get(key);
      if (!pool) {
        pool = new pg.Pool({
          connectionString: url,
          max: 2,
          idleTimeoutMillis: 10_000,
          allowExitOnIdle: true,
        });
        // A connection lost while idle is reopened at the next use; its error must not end the process.
        pool.on('error', () => {});
        pools.set(key, pool);
      }
      return pool;
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.end()));
      pools.clear();
    },
  };
}

/** The owner-role pool of tenant database `key` (`deps.targetOwner`), or the refusal of a move whose
 *  tenant database has no `ownerUrl` here (422 `MOVE_TARGET_UNSUPPORTED`). */
export function tenantOwnerOf(
  targetOwner: ((key: string) => pg.Pool | undefined) | undefined,
  key: string | null,
): pg.Pool {
  const pool = key ? targetOwner?.(key) : undefined;
  if (!pool) {
    throw new PlacementMoveError(
      'MOVE_TARGET_UNSUPPORTED',
      `tenant database ${key ?? '?'} has no ownerUrl configured here (TENANT_DATABASES)`,
      422,
    );
  }
  return pool;
}
