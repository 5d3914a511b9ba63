import pg from 'pg';
import { ConnectionPermits } from './connection-permits.js';
import { TenancyError } from './errors.js';
import { pooledTenantSetter } from './pooled-setter.js';
import type { TenantSetter } from './tenant-connection.js';
import { createScopeDb, type TenantDatabase } from './tenant-database.js';

export interface TenantDatabasePoolsOptions {
  /** Configured tenant databases: key → runtime-role URL (TENANT_DATABASES). */
  readonly databases: Readonly<Record<string, { readonly url: string }>>;
  /** Connections open at most across all tenant databases together (TENANT_DB_MAX_CONNECTIONS). */
  readonly maxConnections: number;
  /** Connections at most to one database (default the smaller of 10 and the cap). */
  readonly poolSize?: number;
  /** An idle connection is closed after this; a database left without any has its pool closed (30 s). */
  readonly idleTimeoutMs?: number;
  /** How long a connection waits for a permit under the cap before TENANT_DATABASE_BUSY (5 s). */
  readonly acquireTimeoutMs?: number;
  /** How long opening a connection may take once it has its permit (10 s). */
  readonly connectTimeoutMs?: number;
  /** `application_name` of the connections, followed by `:<key>` (default `saasready-tenant`). */
  readonly applicationName?: string;
  /** How scopes set the tenant on these databases (default: plain PostgreSQL's). */
  readonly setter?: TenantSetter;
}

/** A snapshot of the pools, for tests and diagnostics. */
export interface TenantDatabasePoolsStats {
  /** Connections open or being opened (permits held), across all pools. */
  readonly connections: number;
  /** The most connections ever open at once. */
  readonly peakConnections: number;
  /** Connections waiting for a permit. */
  readonly waiting: number;
  /** Open pools (databases with a pool right now), least recently used first. */
  readonly pools: readonly { key: string; total: number; idle: number; waiting: number }[];
}

/** The tenant databases of `database` placements: the placement router's `databases`. */
export interface TenantDatabasePools {
  /** The configured keys. */
  readonly keys: readonly string[];
  /** The database of a configured key (its pool opens on first use), undefined for any other key. */
  get(key: string): TenantDatabase | undefined;
  stats(): TenantDatabasePoolsStats;
  /** Closes every pool, resolving when every connection is closed (scopes in flight finish first);
   *  later scopes fail with TENANT_DATABASES_CLOSED. */
  close(): Promise<void>;
}

interface Entry {
  readonly key: string;
  readonly url: string;
  pool: pg.Pool | undefined;
  /** A logical clock of the last use: orders pools for closing, least recently used first. */
  lastUsed: number;
  database: TenantDatabase | undefined;
}

/** What of pg-pool's internals closing ONE idle connection needs (it has no public API for it). */
interface PoolInternals {
  _idle: { client: pg.Client }[];
  _remove(client: pg.Client, callback?: () => void): void;
}

/**
 * One pool per tenant database, created on its first use, all under one connection cap.
 *
 * Every connection is a `PermitClient`: its `connect` first takes a permit of the shared counter, and
 * its permit goes back when its socket has closed. When a connection must wait for a permit, idle
 * connections of the least recently used databases are closed to make room (and a pool left empty is
 * closed); whenever a connection is released while others wait, idle ones are closed the same way.
 * Pools of databases idle longer than the idle timeout lose their connections and are closed.
 *
 * A TenantDatabase's `pool` is looked up at each use (a getter): `withTenant` reads it and calls
 * `connect()` in the same tick, so a pool closed while idle is simply opened again by the next scope,
 * and a pool with a connection out or being opened is never closed under it.
 */
export function createTenantDatabasePools(opts: TenantDatabasePoolsOptions): TenantDatabasePools {
  const cap = opts.maxConnections;
  const poolSize = Math.min(opts.poolSize ?? 10, cap);
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  const acquireTimeoutMs = opts.acquireTimeoutMs ?? 5_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const appName = opts.applicationName ?? 'saasready-tenant';
  const setter = opts.setter ?? pooledTenantSetter;
  const entries = new Map<string, Entry>();
  for (const [key, { url }] of Object.entries(opts.databases)) {
    entries.set(key, { key, url, pool: undefined, lastUsed: 0, database: undefined });
  }
  let clock = 0;
  let closed = false;
  /** Idle connections closed to free permits for waiters, whose sockets have not closed yet. */
  let freeing = 0;
  const permits = new ConnectionPermits(cap, relieve);

  /** A connection that holds a permit of the shared counter while its socket is open. */
  class PermitClient extends pg.Client {
    #held = false;
    /** Closed to make room for a waiter (counted in `freeing` until its permit goes back). */
    evicted = false;

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(
      callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void),
    ): Promise<pg.Client> | void {
      const opened = permits.acquire(acquireTimeoutMs).then(async () => {
        this.#held = true;
        // 'end' comes once the socket has closed, however it closed (end, error, server gone).
        this.once('end', () => this.#release());
        try {
          await super.connect();
        } catch (err) {
          this.#release();
          throw err;
        }
        return this;
      });
      if (!callback) return opened;
      opened.then(
        () => (callback as (err: null, c: pg.Client) => void)(null, this),
        (err: unknown) => (callback as (err: Error) => void)(err as Error),
      );
    }

    #release(): void {
      if (!this.#held) return;
      this.#held = false;
      if (this.evicted) freeing--;
      permits.release();
    }
  }

  /** Closes idle connections, least recently used database first, until the waiters have permits coming. */
  function relieve(): void {
    let needed = permits.waiting - freeing;
    while (needed > 0) {
      let victim: Entry | undefined;
      for (const e of entries.values()) {
        // A pool with a request queued is about to hand its idle connection to it: not that one.
        const p = e.pool;
        if (p && p.idleCount > 0 && p.waitingCount === 0 && (!victim || e.lastUsed < victim.lastUsed)) {
          victim = e;
        }
      }
      if (!victim?.pool) return;
      const pool = victim.pool;
      const internals = pool as unknown as PoolInternals;
      const client = internals._idle[0]!.client as PermitClient; // idle longest: pg-pool reuses the newest
      client.evicted = true;
      freeing++;
      internals._remove(client);
      needed--;
      retireIfEmpty(victim);
    }
  }

  /** Closes the pool of a database with no connection and no request left (it reopens on next use). */
  function retireIfEmpty(e: Entry): void {
    const pool = e.pool;
    if (!pool || pool.totalCount > 0 || pool.waitingCount > 0) return;
    e.pool = undefined;
    void pool.end().catch(() => {});
  }

  function open(e: Entry): pg.Pool {
    const pool = new pg.Pool({
      connectionString: e.url,
      Client: PermitClient,
      max: poolSize,
      min: 0,
      application_name: `${appName}:${e.key}`.slice(0, 63),
      statement_timeout: 30_000,
      idle_in_transaction_session_timeout: 60_000,
      idleTimeoutMillis: idleTimeoutMs,
      // Covers the wait for a permit and then the connect: the permit wait fails first, with its own
      // error. A request queued on a FULL pool (poolSize connections out) waits this long too.
      connectionTimeoutMillis: acquireTimeoutMs + connectTimeoutMs,
    });
    pool.on('error', () => {
      // An idle connection was lost; the pool drops it (its permit goes back on 'end').
    });
    pool.on('connect', (client) => client.on('error', () => {}));
    pool.on('acquire', () => {
      e.lastUsed = ++clock;
    });
    pool.on('release', () => {
      // The connection may now be idle while others wait for a permit: let it go to them.
      if (permits.waiting > freeing) queueMicrotask(relieve);
    });
    pool.on('remove', () => {
      if (e.pool === pool) retireIfEmpty(e);
    });
    return pool;
  }

  function poolOf(e: Entry): pg.Pool {
    if (closed) throw new TenancyError('TENANT_DATABASES_CLOSED', 'the tenant database pools are closed');
    e.lastUsed = ++clock;
    return (e.pool ??= open(e));
  }

  return {
    keys: [...entries.keys()],
    get(key) {
      const e = entries.get(key);
      if (!e) return undefined;
      return (e.database ??= {
        key: e.key,
        setter,
        db: createScopeDb(),
        get pool() {
          return poolOf(e);
        },
      });
    },
    stats() {
      const open = [...entries.values()].filter((e) => e.pool).sort((a, b) => a.lastUsed - b.lastUsed);
      return {
        connections: permits.inUse,
        peakConnections: permits.peak,
        waiting: permits.waiting,
        pools: open.map((e) => ({
          key: e.key,
          total: e.pool!.totalCount,
          idle: e.pool!.idleCount,
          waiting: e.pool!.waitingCount,
        })),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      permits.close();
      const pools = [...entries.values()].flatMap((e) => (e.pool ? [e.pool] : []));
      for (const e of entries.values()) e.pool = undefined;
      await Promise.all(pools.map((p) => p.end()));
      // A pool has ended once it let go of its connections; their sockets close just after.
      await permits.drained();
    },
  };
}
