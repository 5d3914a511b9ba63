import type { Cache } from './cache.js';
import { createMemoryCache } from './memory-cache.js';
import { createRedisCache } from './redis-cache.js';

/**
 * The application cache: Redis when `redisUrl` is set (shared across processes), else an in-process
 * memory cache. Both behave identically (JSON values, per-entry TTL, single-flight `getOrLoad`).
 *
 * @param opts - `redisUrl`: e.g. `redis://127.0.0.1:6379`; empty or absent selects the memory cache.
 * @returns the cache; call `close()` on shutdown.
 */
export function createCache(opts: { redisUrl?: string }): Cache {
  return opts.redisUrl ? createRedisCache({ url: opts.redisUrl }) : createMemoryCache();
}
