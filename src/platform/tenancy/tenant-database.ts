import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import {
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Driver,
} from 'kysely';
import type { Database } from '../db/schema.js';
import { TenancyError } from './errors.js';
import type { TenantConnection, TenantSetter } from './tenant-connection.js';

declare const tenantScoped: unique symbol;

/**
 * The Kysely handle a `withTenant` callback receives. Repositories take only this type: it can run
 * queries only inside an open tenant scope, on that scope's transaction.
 */
export type TenantDb = Kysely<Database> & { readonly [tenantScoped]: true };

/** The connection of the innermost open tenant scope, per async call chain. */
export const scopeStorage = new AsyncLocalStorage<TenantConnection>();

/** A Kysely driver that never touches the pool: every query runs on the current scope's connection. */
class ScopeDriver implements Driver {
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    const conn = scopeStorage.getStore();
    if (!conn) {
      throw new TenancyError('NO_TENANT_CONTEXT', 'tenant-scoped query outside withTenant');
    }
    return conn;
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

/** One physical database a placement routes to: its runtime pool and how it sets the tenant. */
export interface TenantDatabase {
  readonly key: string;
  readonly pool: pg.Pool;
  readonly setter: TenantSetter;
  readonly db: TenantDb;
}

/** Wraps a runtime-role pool as a tenant database. */
export function createTenantDatabase(key: string, pool: pg.Pool, setter: TenantSetter): TenantDatabase {
  const db = new Kysely<Database>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new ScopeDriver(),
      createIntrospector: (k) => new PostgresIntrospector(k),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
  }) as TenantDb;
  return { key, pool, setter, db };
}
