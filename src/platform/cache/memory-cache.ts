import { LRUCache } from 'lru-cache';
import { cacheOverStore, type Cache } from './cache.js';

/** Default maximum number of entries held by a memory cache. */
const DEFAULT_MAX = 10_000;

/**
 * An in-process {@link Cache} on lru-cache: least-recently-used eviction beyond `max` entries and a
 * per-entry TTL. Values are stored JSON-serialised, exactly as in the Redis cache.
 *
 * @param opts - `max`: maximum number of entries (default 10000).
 * @returns the cache (`kind: 'memory'`).
 */
export function createMemoryCache(opts: { max?: number } = {}): Cache {
  const max = opts.max ?? DEFAULT_MAX;
  if (!Number.isInteger(max) || max <= 0) throw new RangeError(`memory cache max must be a positive integer`);
  const lru = new LRUCache<string, string>({ max });
  return cacheOverStore({
    kind: 'memory',
    get: (key) => Promise.resolve(lru.get(key)),
    set: (key, value, ttlMs) => {
      lru.set(key, value, { ttl: ttlMs });
      return Promise.resolve();
    },
    delete: (key) => {
      lru.delete(key);
      return Promise.resolve();
    },
    close: () => {
      lru.clear();
      return Promise.resolve();
    },
  });
}
