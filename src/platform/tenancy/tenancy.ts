import type pg from 'pg';
import type { Logger } from 'pino';
import { createPool } from '../db/pool.js';
import { createPlacementRouter, type PlacementRouter } from './placement.js';
import { tenantSetters, type TenantSetterKind } from './tenant-setters.js';
import { createPrivilegedOps, type PrivilegedOps } from './privileged.js';
import { createTenantDatabase, type TenantDatabase } from './tenant-database.js';
import {
  createTenantDatabasePools,
  type TenantDatabasePools,
  type TenantDatabasePoolsOptions,
} from './tenant-database-pools.js';
import { createWithTenant, type WithTenant } from './with-tenant.js';

/** The tenancy core as the composition root wires it. */
export interface Tenancy {
  readonly withTenant: WithTenant;
  readonly privileged: PrivilegedOps;
  readonly router: PlacementRouter;
  /** The control database (pooled tenants, placements). */
  readonly control: TenantDatabase;
  /** The configured tenant databases of `database` placements, if any are configured. */
  readonly databases: TenantDatabasePools | undefined;
  /** Closes the tenant database pools, then the control pool (unless it was given). */
  close(): Promise<void>;
}

export interface TenancyOptions {
  /** Runtime-role URL of the control database. */
  readonly url: string;
  readonly poolSize: number;
  readonly log?: Logger;
  /** An existing pool to use instead of creating one (its lifetime stays the caller's). */
  readonly pool?: pg.Pool;
  /** How long a placement is cached (default 60 s): an online move waits at least this long before
   *  its switch (PLACEMENT_CACHE_TTL_MS). */
  readonly placementTtlMs?: number;
  /** Tenant databases for `database` placements (TENANT_DATABASES) and their connection cap. */
  readonly tenantDatabases?: TenantDatabasePoolsOptions;
  /** How scopes set the tenant on every database (default `pooled`): TENANT_SETTER, with `auto` resolved
   *  by the caller before (`detectTenantSetter`). */
  readonly setter?: TenantSetterKind;
}

/** Creates the runtime pool, the tenant database pools, placement router, `withTenant` and the privileged operations. */
export function createTenancy(opts: TenancyOptions): Tenancy {
  const pool = opts.pool ?? createPool({ url: opts.url, max: opts.poolSize });
  const setters = tenantSetters(opts.setter ?? 'pooled');
  const control = createTenantDatabase('control', pool, setters.pooled);
  const configured = opts.tenantDatabases;
  const databases =
    configured && Object.keys(configured.databases).length > 0
      ? createTenantDatabasePools({ ...configured, setter: configured.setter ?? setters.pooled })
      : undefined;
  const router = createPlacementRouter({ control, databases, ttlMs: opts.placementTtlMs, setters });
  return {
    // A decided prepared part not committed at once (its connection lost): the resolver commits it.
    withTenant: createWithTenant(router, (gid, err) =>
      opts.log?.warn({ err, gid }, 'two-phase commit: decided, committed later by the resolver'),
    ),
    privileged: createPrivilegedOps(pool, opts.log),
    router,
    control,
    databases,
    async close() {
      await databases?.close();
      if (!opts.pool) await pool.end();
    },
  };
}
