import pg from 'pg';
import type { TenantDatabaseConfig } from '../config-tenant-databases.js';
import type { RoleNames } from './bootstrap.js';
import { knownMigrations, latestMigration, migrateToLatest } from './migrate.js';
import { DIRECTORY_TABLES } from '../tenancy/placed-tables.js';

/**
 * The dedicated databases of `database` placements (TENANT_DATABASES) carry the same migrations as the
 * control database: `npx saasready migrate` applies them, and a server refuses to start while one is
 * behind (its code would query tables that are not there yet).
 */

/** Where a database stands: its last applied migration and whether any known one is missing. */
export interface DatabaseVersion {
  readonly key: string;
  /** The last applied migration (null: none, or the database could not be read: see `error`). */
  readonly version: string | null;
  readonly current: boolean;
  readonly error?: string;
}

function reasonOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function userOf(url: string): string {
  return decodeURIComponent(new URL(url).username);
}

/** The applied migration names of a database (any role that may read kysely_migration); [] when none. */
export async function appliedMigrations(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const res = await client.query<{ name: string }>(
      'select name from kysely_migration order by name collate "C"',
    );
    return res.rows.map((r) => r.name);
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return []; // never migrated
    throw err;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Where a database stands against this build's migrations. */
export async function databaseVersion(key: string, url: string): Promise<DatabaseVersion> {
  try {
    const applied = await appliedMigrations(url);
    const have = new Set(applied);
    return {
      key,
      version: applied[applied.length - 1] ?? null,
      current: knownMigrations().every((n) => have.has(n)),
    };
  } catch (err) {
    return { key, version: null, current: false, error: reasonOf(err) };
  }
}

/** The configured tenant databases that are behind (or unreadable), read through their runtime role. */
export async function tenantDatabasesBehind(
  databases: readonly TenantDatabaseConfig[],
): Promise<DatabaseVersion[]> {
  const versions = await Promise.all(databases.map((d) => databaseVersion(d.key, d.url)));
  return versions.filter((v) => !v.current);
}

/** Why the server must not start, naming each database behind; undefined when none is. */
export function tenantDatabasesRefusal(behind: readonly DatabaseVersion[]): string | undefined {
  if (behind.length === 0) return undefined;
  const latest = latestMigration();
  const each = behind.map((b) =>
    b.error
      ? `tenant database "${b.key}" cannot be checked (${b.error})`
      : `tenant database "${b.key}" is at ${b.version ?? 'no migration'}, this version needs ${latest}`,
  );
  return `${each.join('; ')}: run \`npx saasready migrate\` (see docs/isolation-models.md, "Migrations across placements")`;
}

/** What migrating one tenant database did. */
export interface DatabaseMigrationOutcome {
  readonly key: string;
  readonly applied: readonly string[];
  readonly version: string | null;
  readonly error?: string;
}

/**
 * Migrates each configured tenant database with its owner URL, one after the other; a failure is
 * reported and the next one still runs. Roles: the owner and runtime roles are the URLs' users; the
 * definer and worker roles are the entry's `definerRole`/`workerRole`, else the control database's (roles
 * are per cluster; they must exist there, created once by a superuser as for the control database).
 */
export async function migrateTenantDatabases(opts: {
  databases: readonly TenantDatabaseConfig[];
  controlRoles: RoleNames;
  onOutcome?: (outcome: DatabaseMigrationOutcome) => void;
}): Promise<{ outcomes: DatabaseMigrationOutcome[]; failed: number }> {
  const outcomes: DatabaseMigrationOutcome[] = [];
  for (const d of opts.databases) {
    if (d.ownerUrl === undefined) {
      // Without the owner role this server cannot migrate it: reported, the others still run.
      const { version } = await databaseVersion(d.key, d.url);
      const outcome: DatabaseMigrationOutcome = {
        key: d.key,
        applied: [],
        version,
        error: 'no ownerUrl configured for it in TENANT_DATABASES: migrate it with its owner role',
      };
      outcomes.push(outcome);
      opts.onOutcome?.(outcome);
      continue;
    }
    const roles: RoleNames = {
      owner: userOf(d.ownerUrl),
      runtime: userOf(d.url),
      definer: d.definerRole ?? opts.controlRoles.definer,
      worker: d.workerRole ?? opts.controlRoles.worker,
    };
    let outcome: DatabaseMigrationOutcome;
    try {
      const applied = await migrateToLatest(d.ownerUrl, roles);
      await dropControlForeignKeys(d.ownerUrl);
      outcome = { key: d.key, applied, version: latestMigration() };
    } catch (err) {
      const { version } = await databaseVersion(d.key, d.ownerUrl);
      outcome = { key: d.key, applied: [], version, error: reasonOf(err) };
    }
    outcomes.push(outcome);
    opts.onOutcome?.(outcome);
  }
  return { outcomes, failed: outcomes.filter((o) => o.error !== undefined).length };
}

/**
 * The foreign keys of a tenant database's PLACED tables to the directory and global tables (users, feature
 * flags, plans, memberships, ...; not `organizations`, whose row the tenant database keeps a copy of): those
 * rows live in the control database only (docs/isolation-models.md, "Database placements"), so in a tenant
 * database the keys would refuse every insert that references one. Migrations create the same tables
 * everywhere; after each run on a tenant database these keys are dropped there (and only there). Returns
 * the constraints dropped, as `table.constraint`.
 */
export const CONTROL_FOREIGN_KEYS_SQL = `select con.conrelid::regclass::text as tbl, con.conname::text as name
   from pg_catalog.pg_constraint con
   join pg_catalog.pg_class c on c.oid = con.conrelid
   join pg_catalog.pg_class r on r.oid = con.confrelid
  where con.contype = 'f' and con.conparentid = 0
    and c.relnamespace = 'public'::regnamespace and r.relnamespace = 'public'::regnamespace
    and r.relname <> 'organizations' and c.relname <> all ($1::text[])
    and exists (select 1 from pg_catalog.pg_attribute a
                 where a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped)
    and (r.relname = any ($1::text[]) or not exists (select 1 from pg_catalog.pg_attribute a
                 where a.attrelid = r.oid and a.attname = 'organization_id' and not a.attisdropped))
  order by 1, 2`;

export async function dropControlForeignKeys(ownerUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const keys = await client.query<{ tbl: string; name: string }>(CONTROL_FOREIGN_KEYS_SQL, [
      Object.keys(DIRECTORY_TABLES),
    ]);
    for (const k of keys.rows) {
      await client.query(`alter table ${k.tbl} drop constraint "${k.name.replaceAll('"', '""')}"`);
    }
    return keys.rows.map((k) => `${k.tbl}.${k.name}`);
  } finally {
    await client.end();
  }
}
