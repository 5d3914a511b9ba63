import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.js';

declare const platformScoped: unique symbol;

/**
 * Kysely on the runtime pool with NO tenant set: for the global identity tables (users, sessions,
 * refresh tokens, email tokens, recovery codes). Tenant tables read through it return nothing and refuse
 * writes (fail closed), so it cannot be used to reach tenant data. Use `db.transaction()` for atomicity.
 */
export type PlatformDb = Kysely<Database> & { readonly [platformScoped]: true };

/** Wraps the runtime pool. The pool's lifetime stays the caller's. */
export function createPlatformDb(pool: pg.Pool): PlatformDb {
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: () => Promise.resolve(poolProxy(pool)) }),
  });
  return db as PlatformDb;
}

// Kysely's PostgresDialect ends the pool it is given on destroy(); a proxy keeps the shared pool alive.
function poolProxy(pool: pg.Pool): pg.Pool {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop === 'end') return () => Promise.resolve();
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
