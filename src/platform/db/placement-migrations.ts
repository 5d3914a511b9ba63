import type pg from 'pg';
import type { RoleNames } from './bootstrap.js';
import { latestMigration } from './migrate.js';

/**
 * Schema placements brought to the code's migrations (docs/isolation-models.md "Migrations across
 * placements"): the control database's migrations change `public`; each schema placement's tables are then
 * made structurally identical to public's placed tables by `syncPlacementSchema` and its
 * `tenant_placements.schema_version` recorded. Each placement is done and recorded on its own, so a failure
 * leaves the others done and a re-run continues with those still behind.
 */

/**
 * Makes one organization's schema match public's placed tables, idempotently (`syncPlacementSchema`,
 * src/platform/tenancy/placement-schema.ts); resolves to the statements it ran. The owner client is not
 * inside a transaction.
 */
export type SyncPlacementSchema = (
  owner: pg.PoolClient,
  orgId: string,
  roles: RoleNames,
) => Promise<{ readonly changes: readonly string[] }>;

/** A placement that is not pooled, as the owner role sees it through `app_migrate_placements()`. */
export interface PlacementRow {
  readonly organizationId: string;
  readonly slug: string;
  readonly kind: 'schema' | 'database';
  readonly databaseKey: string | null;
  /** The last migration a schema placement was synchronized to (null: never). */
  readonly schemaVersion: string | null;
  /** `t_<org uuid in 32 hex>` for a schema placement, from the database (never built here). */
  readonly schemaName: string | null;
}

/** What synchronizing one schema placement did. */
export interface SchemaSyncOutcome {
  readonly placement: PlacementRow;
  /** Changes made (undefined when it failed). */
  readonly changes?: number;
  /** The version recorded (the code's latest), or the one it stays at after a failure. */
  readonly version: string | null;
  readonly error?: string;
}

/** Behind: never synchronized, or synchronized to an earlier migration (names sort in order, bytewise). */
export function isBehind(version: string | null, latest: string = latestMigration()): boolean {
  return version === null || Buffer.compare(Buffer.from(version), Buffer.from(latest)) < 0;
}

/** Every placement that is not pooled (owner role; needs migration 0042). */
export async function listPlacements(owner: pg.ClientBase | pg.Pool): Promise<PlacementRow[]> {
  const res = await owner.query<{
    organization_id: string;
    slug: string;
    kind: 'schema' | 'database';
    database_key: string | null;
    schema_version: string | null;
    schema_name: string | null;
  }>('select * from app_migrate_placements()');
  return res.rows.map((r) => ({
    organizationId: r.organization_id,
    slug: r.slug,
    kind: r.kind,
    databaseKey: r.database_key,
    schemaVersion: r.schema_version,
    schemaName: r.schema_name,
  }));
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/**
 * Synchronizes every schema placement that is behind, one at a time, each on its own connection and
 * recorded as soon as it is done; a failure is reported through `onOutcome` and the next one still runs.
 * `owner`: a pool of the control database's owner role.
 */
export async function syncSchemaPlacements(opts: {
  owner: pg.Pool;
  roles: RoleNames;
  sync: SyncPlacementSchema;
  onOutcome?: (outcome: SchemaSyncOutcome) => void;
}): Promise<{ outcomes: SchemaSyncOutcome[]; failed: number; alreadyCurrent: number }> {
  const latest = latestMigration();
  const schemas = (await listPlacements(opts.owner)).filter((p) => p.kind === 'schema');
  const behind = schemas.filter((p) => isBehind(p.schemaVersion, latest));
  const outcomes: SchemaSyncOutcome[] = [];
  for (const placement of behind) {
    const outcome = await syncOne(opts.owner, placement, latest, opts.roles, opts.sync);
    outcomes.push(outcome);
    opts.onOutcome?.(outcome);
  }
  return {
    outcomes,
    failed: outcomes.filter((o) => o.error !== undefined).length,
    alreadyCurrent: schemas.length - behind.length,
  };
}

async function syncOne(
  owner: pg.Pool,
  placement: PlacementRow,
  latest: string,
  roles: RoleNames,
  sync: SyncPlacementSchema,
): Promise<SchemaSyncOutcome> {
  let client: pg.PoolClient | undefined;
  try {
    client = await owner.connect();
    const { changes } = await sync(client, placement.organizationId, roles);
    // Recorded after the synchronization committed: a crash in between leaves the placement behind, and
    // the next run synchronizes it again (no change left to make) and records it.
    await client.query('select app_migrate_record_schema_version($1, $2)', [
      placement.organizationId,
      latest,
    ]);
    client.release();
    return { placement, changes: changes.length, version: latest };
  } catch (err) {
    // A connection the failure may have left inside a transaction is not reused.
    client?.release(err instanceof Error ? err : true);
    return { placement, version: placement.schemaVersion, error: reasonOf(err) };
  }
}
