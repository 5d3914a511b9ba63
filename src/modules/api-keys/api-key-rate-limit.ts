import { LRUCache } from 'lru-cache';
import { tenantCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';

/** Where a key stands in its current window (what the RateLimit-* headers say). */
export interface RateLimitState {
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window ends and the budget is whole again (at least 1). */
  readonly resetSeconds: number;
  readonly windowSeconds: number;
  /** False when this request was over the limit (and must be answered 429). */
  readonly allowed: boolean;
}

export interface ApiKeyRateLimiter {
  /** Counts one request of key `id` (of `orgId`) against `limit` per window. */
  consume(orgId: string, id: string, limit: number): RateLimitState;
}

/**
 * A fixed window per key (default one minute), starting at the key's first request in it: at most
 * `limit` requests per window. In-process counters (lru-cache, keys from `tenantCacheKey`): with N
 * instances behind a load balancer a key gets up to N× its budget.
 */
export function createApiKeyRateLimiter(
  opts: { windowMs?: number; max?: number; now?: () => number } = {},
): ApiKeyRateLimiter {
  const windowMs = opts.windowMs ?? 60_000;
  const windowSeconds = Math.round(windowMs / 1000);
  const now = opts.now ?? Date.now;
  const windows = new LRUCache<CacheKey, { start: number; n: number }>({ max: opts.max ?? 100_000 });
  return {
    consume(orgId, id, limit) {
      const key = tenantCacheKey(orgId, 'api-key.rate', id);
      const t = now();
      let w = windows.get(key);
      if (!w || t >= w.start + windowMs) windows.set(key, (w = { start: t, n: 0 }));
      const allowed = w.n < limit;
      if (allowed) w.n++;
      return {
        limit,
        remaining: limit - w.n,
        resetSeconds: Math.max(1, Math.ceil((w.start + windowMs - t) / 1000)),
        windowSeconds,
        allowed,
      };
    },
  };
}

/** The RateLimit-* response headers (draft-ietf-httpapi-ratelimit-headers) of a state. */
export function rateLimitHeaders(s: RateLimitState): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(s.limit),
    'ratelimit-remaining': String(s.remaining),
    'ratelimit-reset': String(s.resetSeconds),
    'ratelimit-policy': `${s.limit};w=${s.windowSeconds}`,
  };
  if (!s.allowed) headers['retry-after'] = String(s.resetSeconds);
  return headers;
}
