import { Kysely, Migrator, sql, PostgresDialect, type Migration, type MigrationResult } from 'kysely';
import pg from 'pg';
import { Logger, runMigrations } from 'graphile-worker';
import { migrations } from '../../migrations/index.js';
import type { RoleNames } from './bootstrap.js';

/** Thrown when migrations cannot run; the message says which one failed and why. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

function provider(roles: RoleNames) {
  return {
    getMigrations(): Promise<Record<string, Migration>> {
      const all: Record<string, Migration> = {};
      for (const [name, mod] of migrations) {
        all[name] = { up: (db) => mod.up(db as Kysely<unknown>, { roles }) };
      }
      return Promise.resolve(all);
    },
  };
}

/**
 * Runs pending migrations as the owner role, each in its own transaction (Kysely's Migrator takes an
 * advisory lock, so concurrent starts are safe). Returns the names applied by this call.
 */
export async function migrateToLatest(migrationUrl: string, roles: RoleNames): Promise<string[]> {
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: migrationUrl, max: 1 }) }),
  });
  try {
    const definer = await sql<{
      ok: number;
    }>`select 1 as ok from pg_roles where rolname = ${roles.definer}`.execute(db);
    if (definer.rows.length === 0) {
      throw new MigrationError(
        `role ${roles.definer} does not exist: create it once as a superuser (see README, "Bring your own PostgreSQL")`,
      );
    }
    const migrator = new Migrator({ db, provider: provider(roles) });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r: MigrationResult) => r.status === 'Error');
      const reason = error instanceof Error ? error.message : JSON.stringify(error);
      throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
    }
    await installJobQueue(migrationUrl, roles);
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  } finally {
    await db.destroy();
  }
}

/**
 * graphile-worker's schema (jobs and the outbox live in the same database, so a job is queued in the
 * same transaction as the change that causes it). Installed by the owner; the runtime role may use it
 * but owns none of it.
 */
async function installJobQueue(migrationUrl: string, roles: RoleNames): Promise<void> {
  await runMigrations({ connectionString: migrationUrl, logger: silentLogger() });
  const pool = new pg.Pool({ connectionString: migrationUrl, max: 1 });
  try {
    const r = `"${roles.runtime}"`;
    await pool.query(`grant usage on schema graphile_worker to ${r}`);
    await pool.query(`grant select, insert, update, delete on all tables in schema graphile_worker to ${r}`);
    await pool.query(`grant usage, select on all sequences in schema graphile_worker to ${r}`);
    await pool.query(`grant execute on all functions in schema graphile_worker to ${r}`);
    // graphile-worker enables RLS on its private tables (no policies: only their owner may touch them).
    // The queue is platform infrastructure, not tenant data (the tenant travels inside each payload), so
    // the runtime role gets a policy on them; it still owns nothing.
    const tables = await pool.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'graphile_worker' and c.relkind = 'r' and c.relrowsecurity`,
    );
    for (const { relname } of tables.rows) {
      const t = `graphile_worker."${relname}"`;
      await pool.query(`drop policy if exists saasready_runtime on ${t}`);
      await pool.query(
        `create policy saasready_runtime on ${t} for all to ${r} using (true) with check (true)`,
      );
    }
  } finally {
    await pool.end();
  }
}

function silentLogger() {
  // graphile-worker's Logger: a factory of scoped log functions; migrations have nothing worth printing.
  return new Logger(() => () => {});
}

/** Names of migrations this build knows. */
export function knownMigrations(): string[] {
  return migrations.map(([name]) => name);
}

/** True when every known migration is applied (read through the runtime role, which may SELECT the table). */
export async function migrationsCurrent(pool: pg.Pool): Promise<boolean> {
  const res = await pool.query<{ name: string }>('select name from kysely_migration');
  const applied = new Set(res.rows.map((r) => r.name));
  return knownMigrations().every((n) => applied.has(n));
}
