import pg from 'pg';
import { citusMoveRefusal, citusSchemaTenantSetter, citusTenantSetter } from './citus-setter.js';
import { movingPlacedTenantSetter, movingTenantSetter } from './moving-setter.js';
import { pooledTenantSetter } from './pooled-setter.js';
import { schemaTenantSetter } from './schema-setter.js';
import type { TenantSetter } from './tenant-connection.js';

/** How scopes set the tenant (TENANT_SETTER): `set_config` on plain PostgreSQL, `SET LOCAL` on Citus. */
export type TenantSetterKind = 'pooled' | 'citus';

/** The setters of one kind, for each way the placement router routes an organization. */
export interface TenantSetters {
  readonly kind: TenantSetterKind;
  /** Pooled organizations (the control database) and `database` placements. */
  readonly pooled: TenantSetter;
  /** An organization placed in its own schema of the control database; `tables`, what the schema holds. */
  schema(orgId: string, schema: string, tables?: readonly string[]): TenantSetter;
  /** An organization in an online move; throws a TenancyError where moves are not supported. */
  moving(orgId: string): TenantSetter;
  /** A `database` organization in an online move, on its tenant database (migration 0078); throws a
   *  TenancyError where moves are not supported. */
  movingPlaced(orgId: string): TenantSetter;
}

export const POOLED_SETTERS: TenantSetters = {
  kind: 'pooled',
  pooled: pooledTenantSetter,
  schema: schemaTenantSetter,
  moving: movingTenantSetter,
  movingPlaced: movingPlacedTenantSetter,
};

export const CITUS_SETTERS: TenantSetters = {
  kind: 'citus',
  pooled: citusTenantSetter,
  schema: citusSchemaTenantSetter,
  moving: () => {
    throw citusMoveRefusal();
  },
  movingPlaced: () => {
    throw citusMoveRefusal();
  },
};

export function tenantSetters(kind: TenantSetterKind): TenantSetters {
  return kind === 'citus' ? CITUS_SETTERS : POOLED_SETTERS;
}

/**
 * TENANT_SETTER=auto: `citus` when the citus extension is installed in the control database, `pooled`
 * otherwise. Asked once at start, before the server serves (src/app/compose.ts): a server never switches
 * setter while it runs.
 */
export async function detectTenantSetter(client: pg.ClientBase | pg.Pool): Promise<TenantSetterKind> {
  const res = await client.query<{ citus: boolean }>(
    "select exists (select 1 from pg_extension where extname = 'citus') as citus",
  );
  return res.rows[0]?.citus === true ? 'citus' : 'pooled';
}

/** TENANT_SETTER as configured, `auto` resolved on the control database at `url` (one connection, closed). */
export async function chooseTenantSetter(
  choice: TenantSetterKind | 'auto',
  url: string,
): Promise<TenantSetterKind> {
  if (choice !== 'auto') return choice;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await detectTenantSetter(client);
  } finally {
    await client.end();
  }
}
