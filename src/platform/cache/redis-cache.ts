import { Redis } from 'ioredis';
import { cacheOverStore, type Cache } from './cache.js';

/** Upper bound for one command, including time spent queued while (re)connecting. */
const COMMAND_TIMEOUT_MS = 5_000;
/** Upper bound for establishing one connection. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * A {@link Cache} on Redis via ioredis: `SET key value PX ttl`, `GET`, `DEL`. Values are stored
 * JSON-serialised, exactly as in the memory cache; single flight is per process.
 *
 * Failure behaviour: commands issued while disconnected are queued for at most one reconnection attempt
 * (`maxRetriesPerRequest: 1`) and never longer than 5 s (`commandTimeout`), then reject — an unreachable
 * Redis surfaces as rejected promises, never as a hang. Connection 'error' events go to `onError` (or
 * are dropped) so they can never crash the process as an unhandled 'error' event; ioredis keeps
 * reconnecting in the background.
 *
 * @param opts - `url`: `redis://…` URL; `keyPrefix`: prepended to every key (e.g. to isolate test runs or
 *   several deployments sharing one Redis); `onError`: receives connection errors (e.g. to log them).
 * @returns the cache (`kind: 'redis'`); `close()` quits the connection.
 */
export function createRedisCache(opts: {
  url: string;
  keyPrefix?: string;
  onError?: (err: Error) => void;
}): Cache {
  const redis = new Redis(opts.url, {
    keyPrefix: opts.keyPrefix ?? '',
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
  });
  redis.on('error', (err: Error) => opts.onError?.(err));

  return cacheOverStore({
    kind: 'redis',
    async get(key) {
      return (await redis.get(key)) ?? undefined;
    },
    async set(key, value, ttlMs) {
      await redis.set(key, value, 'PX', ttlMs);
    },
    async delete(key) {
      await redis.del(key);
    },
    async close() {
      if (redis.status === 'ready') {
        try {
          await redis.quit();
          return;
        } catch {
          // Fall through to a hard disconnect.
        }
      }
      redis.disconnect();
    },
  });
}
