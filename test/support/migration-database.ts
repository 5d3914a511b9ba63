import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrations } from '../../src/migrations/index.js';
import { migrationProvider } from '../../src/platform/db/migrate.js';
import { bootstrapThrowaway, dropThrowaway, type ThrowawayDatabase } from './provision.js';

/**
 * A throwaway database that a test brings up migration by migration: to the one before the migration it
 * tests, writes the rows that migration must carry over (as the superuser), then applies it.
 */
export interface MigrationDatabase extends ThrowawayDatabase {
  /** The owner role, one connection: what the migrations run as. */
  readonly db: Kysely<unknown>;
  /** Superuser, connected to this database. */
  readonly admin: pg.Client;
  /** Applies the registered migrations up to and including `name`. */
  migrateTo(name: string): Promise<void>;
  /** Applies the registered migrations that come before `name`. */
  migrateToBefore(name: string): Promise<void>;
  /** Closes both connections and drops the database and its roles. */
  close(): Promise<void>;
}

/** Creates a database named `<label>_<random>` with roles of the same stem, nothing migrated. */
export async function openMigrationDatabase(superuserUrl: string, label: string): Promise<MigrationDatabase> {
  const own = await bootstrapThrowaway(superuserUrl, label);
  const pool = new pg.Pool({ connectionString: own.migrationUrl, max: 1 });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const admin = new pg.Client({ connectionString: own.adminUrl });
  try {
    await admin.connect();
  } catch (e) {
    await db.destroy();
    await dropThrowaway(own);
    throw e;
  }
  const migrateTo = async (name: string) => {
    const { error } = await new Migrator({ db, provider: migrationProvider(own.roles) }).migrateTo(name);
    if (error) throw error as Error;
  };
  return {
    ...own,
    db,
    admin,
    migrateTo,
    async migrateToBefore(name) {
      const at = migrations.findIndex(([n]) => n === name);
      if (at < 1) throw new Error(`no registered migration before ${name}`);
      await migrateTo(migrations[at - 1]![0]);
    },
    async close() {
      await admin.end();
      // The pool's end returns before its connection has closed: the drop may terminate it first, and
      // the pool, with no listener, would throw that error into whatever file the process runs next.
      pool.on('error', () => {});
      await db.destroy();
      await dropThrowaway(own);
    },
  };
}
