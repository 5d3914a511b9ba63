import { LRUCache } from 'lru-cache';
import type { CacheKey } from '../tenancy/cache-keys.js';

/**
 * An in-process LRU whose misses are loaded once for all concurrent callers (single flight). A load that
 * is overtaken by an invalidation of its key does not store its (possibly stale) result, and later
 * callers start a fresh load, so a committed change is seen by the very next request of this process.
 * Only values `store` accepts are kept (e.g. not "no such row", so a row that appears is seen at once).
 */
export interface SingleFlightCache<V extends object> {
  /** The cached value (synchronously, on the hot path), or the shared load's promise. */
  get(key: CacheKey, load: () => Promise<V | null>): V | Promise<V | null>;
  /** Drops one key, and makes a load in flight for it forget its result. */
  drop(key: CacheKey): void;
  /** Drops every key for which `match` holds, given the cached value, or undefined for a load in flight. */
  dropWhere(match: (key: CacheKey, value: V | undefined) => boolean): void;
  /** Drops everything. */
  clear(): void;
}

export function createSingleFlightCache<V extends object>(opts: {
  max: number;
  ttlMs: number;
  store?: (value: V) => boolean;
}): SingleFlightCache<V> {
  // ttlResolution 0: read the clock on each check. The default (1 ms) arms a timer every millisecond
  // the cache is read, which on a busy request path is a timer per request.
  const cache = new LRUCache<CacheKey, V>({ max: opts.max, ttl: opts.ttlMs, ttlResolution: 0 });
  const flights = new Map<CacheKey, { promise: Promise<V | null>; state: { superseded: boolean } }>();

  const drop = (key: CacheKey) => {
    cache.delete(key);
    const flight = flights.get(key);
    if (flight) {
      flight.state.superseded = true;
      flights.delete(key);
    }
  };

  return {
    get(key, load) {
      const hit = cache.get(key);
      if (hit) return hit;
      const existing = flights.get(key);
      if (existing) return existing.promise;
      const state = { superseded: false };
      const settle = () => {
        if (flights.get(key)?.state === state) flights.delete(key);
      };
      const promise = load().then(
        (value) => {
          settle();
          if (value && !state.superseded && (opts.store?.(value) ?? true)) cache.set(key, value);
          return value;
        },
        (err: unknown) => {
          settle();
          throw err;
        },
      );
      flights.set(key, { promise, state });
      return promise;
    },
    drop,
    dropWhere(match) {
      for (const [key, value] of [...cache.entries()]) if (match(key, value)) drop(key);
      for (const key of [...flights.keys()]) if (match(key, undefined)) drop(key);
    },
    clear() {
      for (const flight of flights.values()) flight.state.superseded = true;
      flights.clear();
      cache.clear();
    },
  };
}
