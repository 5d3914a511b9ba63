import { LRUCache } from 'lru-cache';
import { platformCacheKey } from '../../platform/tenancy/cache-keys.js';
import { TwoFactorError } from './two-factor.errors.js';

/**
 * Failure throttle for code checks: at most `maxFailures` wrong codes per user per window (fixed window
 * from the first failure). Attempts in flight count against the limit, so concurrent guesses cannot slip
 * past it. A success clears the user's entry. In-process (lru-cache): each server process keeps its own
 * count, which bounds guessing per process; the window is far below what guessing a 6-digit code needs.
 */
export interface CodeThrottle {
  /**
   * Runs `check` under the limit: a null result is a wrong code (counted), anything else a success.
   * @throws TWO_FACTOR_THROTTLED (429, `details.retryAfterSeconds`) when the user has used up the window.
   */
  attempt<T>(userId: string, check: () => Promise<T | null>): Promise<T | null>;
}

interface Entry {
  failures: number;
  inFlight: number;
  windowEndsAt: number;
}

export function createCodeThrottle(opts: {
  maxFailures?: number;
  windowMs?: number;
  now?: () => number;
  maxUsers?: number;
}): CodeThrottle {
  const maxFailures = opts.maxFailures ?? 5;
  const windowMs = opts.windowMs ?? 5 * 60_000;
  const now = opts.now ?? Date.now;
  const entries = new LRUCache<string, Entry>({ max: opts.maxUsers ?? 100_000, ttl: windowMs });

  const current = (key: string): Entry => {
    let e = entries.get(key);
    const t = now();
    if (!e || (e.windowEndsAt <= t && e.inFlight === 0)) {
      e = { failures: 0, inFlight: 0, windowEndsAt: t + windowMs };
      entries.set(key, e);
    } else if (e.windowEndsAt <= t) {
      // The window ended while attempts were in flight: a new window, keeping them counted.
      e.failures = 0;
      e.windowEndsAt = t + windowMs;
    }
    return e;
  };

  return {
    async attempt<T>(userId: string, check: () => Promise<T | null>): Promise<T | null> {
      const key = platformCacheKey('two-factor.failures', userId);
      const entry = current(key);
      if (entry.failures + entry.inFlight >= maxFailures) {
        const retryAfterSeconds = Math.max(1, Math.ceil((entry.windowEndsAt - now()) / 1000));
        throw new TwoFactorError('TWO_FACTOR_THROTTLED', 'too many wrong codes: try again later', {
          retryAfterSeconds,
        });
      }
      entry.inFlight++;
      let result: T | null;
      try {
        result = await check();
      } finally {
        entry.inFlight--;
      }
      if (result === null) {
        entry.failures++;
        // Keep the entry alive for the rest of its window (lru-cache's TTL counts from the last set).
        entries.set(key, entry, { ttl: Math.max(1, entry.windowEndsAt - now()) });
      } else {
        // A success clears the count; attempts still in flight keep the entry they count against.
        entry.failures = 0;
        if (entry.inFlight === 0) entries.delete(key);
      }
      return result;
    },
  };
}
