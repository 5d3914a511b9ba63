import { scopeStorage, type TenantDb } from './tenant-database.js';
import { TenantConnection, type TenantMode } from './tenant-connection.js';
import { SplitTenantConnection, type OnUnresolved } from './split-connection.js';
import { TenancyError } from './errors.js';
import { isTenantId } from './context.js';
import type { PlacementRouter } from './placement.js';

export interface WithTenantOptions {
  /** `write` (default): one transaction, committed when `fn` resolves, rolled back when it throws.
   *  `read`: read-only, each query its own one-round-trip implicit transaction. */
  readonly mode?: TenantMode;
  /** The key of a configured tenant database: the scope of an organization being CREATED there (no
   *  placement recorded yet; the scope records it). Never for an existing organization: its placement
   *  routes it. */
  readonly creatingIn?: string;
}

/** Runs `fn` in a transaction scoped to one tenant. See `createWithTenant`. */
export type WithTenant = <T>(
  tenantId: string,
  fn: (db: TenantDb) => Promise<T>,
  opts?: WithTenantOptions,
) => Promise<T>;

/**
 * Builds `withTenant`: resolve the tenant's placement, check out one connection of its pool, and run
 * `fn` with a Kysely handle bound to that connection. The tenant is set transaction-locally with the
 * first query (no round trip of its own), so the connection goes back to the pool carrying no tenant.
 * A nested call for the same tenant reuses the open scope; for another tenant it throws.
 */
export function createWithTenant(router: PlacementRouter, onUnresolved?: OnUnresolved): WithTenant {
  const once = createScope(router, onUnresolved);
  return async function withTenant<T>(
    tenantId: string,
    fn: (db: TenantDb) => Promise<T>,
    opts?: WithTenantOptions,
  ): Promise<T> {
    // A nested call runs inside its outer scope's transaction: only the outermost call can route the
    // scope again (retrying here would reuse the outer scope's aborted transaction).
    if (scopeStorage.getStore()) return once(tenantId, fn, opts);
    for (let attempt = 1; ; attempt++) {
      try {
        return await once(tenantId, fn, opts);
      } catch (err) {
        // The guarded path of a moving organization waited out a move's switch into a tenant database
        // (migration 0076): its first statement refused before anything ran; route the scope again.
        if ((err as { code?: string }).code !== MOVED_TO_DATABASE || attempt >= 5) throw err;
        router.invalidate(tenantId);
        if (attempt > 1) await new Promise((r) => setTimeout(r, 20 * attempt));
      }
    }
  };
}

/** SQLSTATE of `app_enter_moving_tenant` when the organization's placement is a tenant database now. */
export const MOVED_TO_DATABASE = 'SRM01';

function createScope(router: PlacementRouter, onUnresolved?: OnUnresolved): WithTenant {
  return async function withTenant<T>(
    tenantId: string,
    fn: (db: TenantDb) => Promise<T>,
    opts?: WithTenantOptions,
  ): Promise<T> {
    if (!isTenantId(tenantId)) {
      throw new TenancyError('INVALID_TENANT_ID', 'tenant id must be a canonical lowercase UUID');
    }
    const mode = opts?.mode ?? 'write';
    const outer = scopeStorage.getStore();
    if (outer) {
      if (outer.tenantId !== tenantId) {
        throw new TenancyError('TENANT_SCOPE_CONFLICT', 'withTenant nested inside a scope of another tenant');
      }
      if (outer.mode === 'read' && mode === 'write') {
        throw new TenancyError('TENANT_SCOPE_CONFLICT', 'write scope nested inside a read scope');
      }
      return fn(outer.db);
    }
    // Synchronous on a cached placement (every request but a tenant's first in a while): no promise.
    const target =
      opts?.creatingIn !== undefined
        ? await creatingIn(router, opts.creatingIn)
        : (router.cached(tenantId) ?? (await router.resolve(tenantId)));

    const client = await target.pool.connect();
    const single = new TenantConnection(client, tenantId, mode, target.setter, target.db);
    // A `database` placement's scope: its directory and global tables on the control database.
    const split =
      target.directory === undefined
        ? undefined
        : new SplitTenantConnection(single, target.directory, target.key, onUnresolved);
    const conn = split ?? single;
    let broken: Error | undefined;
    try {
      const result = await scopeStorage.run(conn, fn, target.db);
      conn.close();
      // A read scope (and a write scope that ran nothing) has no transaction left to end: no await. (A
      // Citus read scope has, once a read failed: that read's transaction, to roll back.)
      if (conn.unfinished) await conn.finish(true);
      return result;
    } catch (err) {
      conn.close();
      try {
        if (conn.unfinished) await conn.finish(false);
      } catch (rollbackErr) {
        // The connection is in an unknown state: destroy it rather than hand it back.
        broken = rollbackErr as Error;
      }
      throw err;
    } finally {
      // A scope that ran a statement able to change session state (a session-level set_config of the
      // tenant, SET, DO, PREPARE, ...) may have left it on the connection: destroy it instead of pooling it.
      single.release(broken);
      split?.release(broken);
    }
  };
}

function creatingIn(router: PlacementRouter, key: string) {
  if (!router.database) {
    throw new TenancyError(
      'PLACEMENT_UNSUPPORTED',
      'this router places no organization in a tenant database',
    );
  }
  return router.database(key);
}
