import type pg from 'pg';
import type { TenantDatabaseConfig } from '../config-tenant-databases.js';
import { knownMigrations, latestMigration } from './migrate.js';
import { isBehind, listPlacements } from './placement-migrations.js';
import { databaseVersion } from './tenant-database-migrations.js';

/** One placement's line of `npx saasready migrate status`. */
export interface PlacementStatus {
  readonly kind: 'schema' | 'database';
  /** `t_…` for a schema placement, the database key for a database placement. */
  readonly name: string;
  /** The schema's organization; for a database, how many organizations it holds. */
  readonly detail: string;
  readonly version: string | null;
  readonly current: boolean;
  /** Why it is not current beyond its version (unreadable, not configured). */
  readonly note?: string;
}

export interface MigrationStatus {
  /** The code's last migration. */
  readonly latest: string;
  readonly control: { readonly version: string | null; readonly current: boolean };
  readonly placements: readonly PlacementStatus[];
  /** Set when the control database cannot list its placements yet (not migrated to 0042). */
  readonly placementsUnknown?: string;
}

/**
 * Where the control database and every placement stand, read without changing anything: the owner role
 * of the control database (for `app_migrate_placements()`), each tenant database through its runtime URL.
 */
export async function migrationStatus(
  owner: pg.Pool,
  databases: readonly TenantDatabaseConfig[],
): Promise<MigrationStatus> {
  const latest = latestMigration();
  const applied = await owner
    .query<{ name: string }>('select name from kysely_migration order by name collate "C"')
    .then(
      (r) => r.rows.map((row) => row.name),
      (err: { code?: string }) => {
        if (err.code === '42P01') return [] as string[];
        throw err;
      },
    );
  const have = new Set(applied);
  const control = {
    version: applied[applied.length - 1] ?? null,
    current: knownMigrations().every((n) => have.has(n)),
  };
  let rows;
  try {
    rows = await listPlacements(owner);
  } catch (err) {
    if ((err as { code?: string }).code !== '42883') throw err;
    return {
      latest,
      control,
      placements: [],
      placementsUnknown: 'the control database is not migrated far enough to list its placements',
    };
  }
  const placements: PlacementStatus[] = rows
    .filter((r) => r.kind === 'schema')
    .map((r) => ({
      kind: 'schema',
      name: r.schemaName!,
      detail: `org ${r.slug}`,
      version: r.schemaVersion,
      current: !isBehind(r.schemaVersion, latest),
    }));
  const perKey = new Map<string, number>();
  for (const r of rows) {
    if (r.kind === 'database' && r.databaseKey)
      perKey.set(r.databaseKey, (perKey.get(r.databaseKey) ?? 0) + 1);
  }
  const orgs = (n: number) => `${n} organization${n === 1 ? '' : 's'}`;
  for (const d of databases) {
    const v = await databaseVersion(d.key, d.url);
    placements.push({
      kind: 'database',
      name: d.key,
      detail: orgs(perKey.get(d.key) ?? 0),
      version: v.version,
      current: v.current,
      ...(v.error ? { note: `cannot be read: ${v.error}` } : {}),
    });
    perKey.delete(d.key);
  }
  // Placed in a database this configuration does not name: nothing here can migrate or serve it.
  for (const [key, n] of perKey) {
    placements.push({
      kind: 'database',
      name: key,
      detail: orgs(n),
      version: null,
      current: false,
      note: 'not in TENANT_DATABASES',
    });
  }
  return { latest, control, placements };
}
