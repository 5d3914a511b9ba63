import { Kysely, Migrator, sql, PostgresDialect, type Migration, type MigrationResult } from 'kysely';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import { installJobQueue } from '../jobs/queue-schema.js';
import type { RoleNames } from './bootstrap.js';

/** Thrown when migrations cannot run; the message says which one failed and why. */
export class MigrationError extends Error {
  override name = 'MigrationError';
}

/** Every registered migration, run with these roles (also what tests migrate step by step with). */
export function migrationProvider(roles: RoleNames) {
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
    for (const role of [roles.definer, roles.worker]) {
      const found = await sql<{ ok: number }>`select 1 as ok from pg_roles where rolname = ${role}`.execute(
        db,
      );
      if (found.rows.length === 0) {
        throw new MigrationError(
          `role ${role} does not exist: create it once as a superuser (see README, "Bring your own PostgreSQL")`,
        );
      }
    }
    const migrator = new Migrator({ db, provider: migrationProvider(roles) });
    const { error, results } = await migrator.migrateToLatest();
    if (error) {
      const failed = results?.find((r: MigrationResult) => r.status === 'Error');
      const reason = error instanceof Error ? error.message : JSON.stringify(error);
      throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${reason}`);
    }
    // graphile-worker's schema and the queue's privileges (the runtime role's only way in is
    // `app_enqueue_job`; the worker role runs the jobs), brought up to date on every start.
    await installJobQueue(migrationUrl, roles);
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  } finally {
    await db.destroy();
  }
}

/** Names of migrations this build knows. */
export function knownMigrations(): string[] {
  return migrations.map(([name]) => name);
}

/** The last migration this build knows: what the control database and every placement are brought to. */
export function latestMigration(): string {
  return migrations[migrations.length - 1]![0];
}

/** True when every known migration is applied (read through the runtime role, which may SELECT the table). */
export async function migrationsCurrent(pool: pg.Pool): Promise<boolean> {
  const res = await pool.query<{ name: string }>('select name from kysely_migration');
  const applied = new Set(res.rows.map((r) => r.name));
  return knownMigrations().every((n) => applied.has(n));
}
