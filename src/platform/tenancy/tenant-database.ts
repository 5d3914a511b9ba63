import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import {
  DefaultConnectionProvider,
  DefaultQueryExecutor,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryResult,
} from 'kysely';
import type { Database } from '../db/schema.js';
import { TenancyError } from './errors.js';
import type { ScopeConnection, TenantSetter } from './tenant-connection.js';
import type { DirectorySide } from './split-connection.js';

declare const tenantScoped: unique symbol;

/**
 * The Kysely handle a `withTenant` callback receives. Repositories take only this type: it can run
 * queries only inside an open tenant scope, on that scope's transaction.
 */
export type TenantDb = Kysely<Database> & { readonly [tenantScoped]: true };

/** The connection of the innermost open tenant scope, per async call chain. */
export const scopeStorage = new AsyncLocalStorage<ScopeConnection>();

/** A Kysely driver that never touches the pool: every query runs on the current scope's connection. */
class ScopeDriver implements Driver {
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const conn = scopeStorage.getStore();
    if (!conn) throw outsideScope();
    return conn as ScopeConnection & DatabaseConnection;
  }
  async beginTransaction(): Promise<void> {
    throw new TenancyError(
      'TENANT_SCOPE_CONFLICT',
      'a tenant scope is already a transaction; nest withTenant instead',
    );
  }
  async commitTransaction(): Promise<void> {}
  async rollbackTransaction(): Promise<void> {}
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}
}

/**
 * One physical database a placement routes to: its runtime pool and how it sets the tenant. Read `pool`
 * where it is used (a tenant database's is a getter: its pool may be closed while idle and reopened).
 */
export interface TenantDatabase {
  readonly key: string;
  readonly pool: pg.Pool;
  readonly setter: TenantSetter;
  readonly db: TenantDb;
  /** A `database` placement's: the control database, where its directory and global tables are. */
  readonly directory?: DirectorySide;
}

/** The fail-closed refusal of a query outside any scope. */
function outsideScope(): TenancyError {
  return new TenancyError('NO_TENANT_CONTEXT', 'tenant-scoped query outside withTenant');
}

/**
 * Kysely's executor with the query handed straight to the scope's connection. Kysely's default path
 * acquires and releases a connection around every query through several async layers (driver init check,
 * connection provider, result transformation by plugins); a scope has exactly one connection and the
 * handle no plugins, so all of that is per-query work with nothing to do. A handle given plugins later
 * (`withPlugin`) gets Kysely's own executor back, which reaches the same connection through `ScopeDriver`.
 */
class ScopeQueryExecutor extends DefaultQueryExecutor {
  override executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const conn = scopeStorage.getStore();
    if (!conn) return Promise.reject(outsideScope());
    return conn.executeQuery<R>(compiled);
  }
}

/** The database a handle's scopes run on, for handles that share another's (see `databaseOf`). */
const sameDatabase = new WeakMap<object, object>();

/**
 * The identity of the database `db`'s scopes run on: what is registered per database (the audit log's
 * key store, personal-fields.ts, and its sealer's listeners, record.ts) is keyed by it. A handle made
 * with `sameDatabaseAs` (the control database's schema-placed and moving organizations, placement.ts)
 * answers the identity of that database's handle; any other handle, itself. One WeakMap read, no
 * allocation.
 */
export const databaseOf = (db: object): object => sameDatabase.get(db) ?? db;

/**
 * Wraps a runtime-role pool as a tenant database. `sameDatabaseAs`: another handle on the same physical
 * database (a schema of the control database, or its moving organizations' guarded path), whose
 * registrations per database (`databaseOf`) the new handle shares.
 */
export function createTenantDatabase(
  key: string,
  pool: pg.Pool,
  setter: TenantSetter,
  sameDatabaseAs?: TenantDatabase,
): TenantDatabase {
  const db = createScopeDb();
  if (sameDatabaseAs) sameDatabase.set(db, databaseOf(sameDatabaseAs.db));
  return { key, pool, setter, db };
}

/** A Kysely handle whose queries run on the current scope's connection, whatever pool it came from. */
export function createScopeDb(): TenantDb {
  const dialect: Dialect = {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new ScopeDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
  const driver = dialect.createDriver();
  const executor = new ScopeQueryExecutor(
    dialect.createQueryCompiler(),
    dialect.createAdapter(),
    new DefaultConnectionProvider(driver),
  );
  return new Kysely<Database>({ config: { dialect }, driver, executor, dialect }) as TenantDb;
}
