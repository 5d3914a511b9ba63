import type { CacheKey } from '../tenancy/cache-keys.js';

/**
 * A cache addressed only by {@link CacheKey}s (built by the tenant key factory in
 * `tenancy/cache-keys.ts`), so no code path can read or write a cache entry under a hand-made key.
 *
 * Values are JSON-serialised in every implementation: a read returns a fresh copy (callers never share
 * mutable objects), and JSON-lossy values behave the same in memory and in Redis (a `Date` comes back as a
 * string, `undefined` properties disappear). A value that serialises to nothing (`undefined`, a function)
 * is not stored.
 */
export interface Cache {
  /** The cached value, or `undefined` when absent or expired. */
  get<T>(key: CacheKey): Promise<T | undefined>;
  /** Stores `value` for `ttlMs` milliseconds (a positive, finite number). Storing `undefined` deletes. */
  set<T>(key: CacheKey, value: T, ttlMs: number): Promise<void>;
  /** Removes the entry, if any. */
  delete(key: CacheKey): Promise<void>;
  /**
   * The cached value, or the result of `loader` (cached for `ttlMs` unless it is `undefined`).
   * Concurrent calls for the same key in this process share one load (single flight); a rejected load
   * rejects every waiter and is not cached. A `set`/`delete` of the key during a load stops that load's
   * result from being written, so an invalidation is never overwritten by a stale load.
   */
  getOrLoad<T>(key: CacheKey, ttlMs: number, loader: () => Promise<T>): Promise<T>;
  /** Releases resources; every later call rejects. Idempotent. */
  close(): Promise<void>;
  readonly kind: 'memory' | 'redis';
}

/**
 * The string-level storage a {@link Cache} is built on. Internal to `platform/cache`: implementations
 * receive keys that have already passed through the key factory.
 */
export interface RawCacheStore {
  readonly kind: Cache['kind'];
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

interface Flight {
  readonly promise: Promise<string | undefined>;
  /** `superseded` is set when the key is written or deleted while loading: the result must not be stored. */
  readonly state: { superseded: boolean };
}

function checkTtl(ttlMs: number): number {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`cache ttlMs must be a positive finite number, got ${String(ttlMs)}`);
  }
  return Math.ceil(ttlMs);
}

function parse<T>(raw: string | undefined): T | undefined {
  return raw === undefined ? undefined : (JSON.parse(raw) as T);
}

/**
 * Builds a {@link Cache} over a raw string store, adding what both implementations share: JSON
 * (de)serialisation, TTL validation, single-flight `getOrLoad` and closed-state handling.
 * Internal to `platform/cache`; use `createCache`, `createMemoryCache` or `createRedisCache`.
 *
 * @param store - the string store (lru-cache or Redis).
 * @returns the typed cache.
 */
export function cacheOverStore(store: RawCacheStore): Cache {
  const flights = new Map<string, Flight>();
  let closed = false;

  const ensureOpen = (): void => {
    if (closed) throw new Error(`${store.kind} cache is closed`);
  };
  const supersede = (key: string): void => {
    const flight = flights.get(key);
    if (flight) {
      flight.state.superseded = true;
      flights.delete(key);
    }
  };

  const cache: Cache = {
    kind: store.kind,

    async get<T>(key: CacheKey): Promise<T | undefined> {
      ensureOpen();
      return parse<T>(await store.get(key));
    },

    async set<T>(key: CacheKey, value: T, ttlMs: number): Promise<void> {
      ensureOpen();
      const ttl = checkTtl(ttlMs);
      const raw = JSON.stringify(value) as string | undefined;
      supersede(key);
      if (raw === undefined) await store.delete(key);
      else await store.set(key, raw, ttl);
    },

    async delete(key: CacheKey): Promise<void> {
      ensureOpen();
      supersede(key);
      await store.delete(key);
    },

    async getOrLoad<T>(key: CacheKey, ttlMs: number, loader: () => Promise<T>): Promise<T> {
      ensureOpen();
      const ttl = checkTtl(ttlMs);
      let flight = flights.get(key);
      if (!flight) {
        const state = { superseded: false };
        const promise = (async () => {
          const hit = await store.get(key);
          if (hit !== undefined) return hit;
          const raw = JSON.stringify(await loader()) as string | undefined;
          if (raw !== undefined && !state.superseded && !closed) await store.set(key, raw, ttl);
          return raw;
        })();
        const created: Flight = { promise, state };
        flight = created;
        flights.set(key, created);
        const done = (): void => {
          if (flights.get(key) === created) flights.delete(key);
        };
        promise.then(done, done);
      }
      // Each waiter parses its own copy of the shared serialised result.
      return parse<T>(await flight.promise) as T;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      flights.clear();
      await store.close();
    },
  };
  return cache;
}
