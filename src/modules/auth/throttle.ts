import { LRUCache } from 'lru-cache';
import { platformCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import { throttled } from './auth.errors.js';

/** A fixed-window counter per key: `limit` attempts within `windowMs`, then 429 until it ends. */
export interface ThrottleRule {
  readonly limit: number;
  readonly windowMs: number;
}

export interface Throttle {
  /**
   * Throws AUTH_THROTTLED (with Retry-After seconds) when any key has used up its budget; otherwise
   * counts one attempt against every key at once. Check and count are one synchronous step, so parallel
   * requests cannot all slip through before the first failure is recorded.
   */
  acquire(keys: readonly ThrottleKey[]): void;
  /** Gives back an attempt that turned out not to be a failure (a successful login). */
  release(keys: readonly ThrottleKey[]): void;
  /** Forgets a key's attempts (a successful login clears its account's counter). */
  reset(key: ThrottleKey): void;
}

export interface ThrottleKey {
  /** Which rule applies (`account`, `ip`, …). */
  readonly kind: string;
  readonly value: string;
}

/**
 * In-process failure counters (lru-cache with a TTL per entry; keys built by `platformCacheKey`, since
 * accounts and addresses are not tenant data). A window starts at the first failure and is not extended
 * by later ones, so `Retry-After` is exact. Per process: with N instances an attacker gets N× the budget,
 * still bounded.
 */
export function createThrottle(
  namespace: string,
  rules: Readonly<Record<string, ThrottleRule>>,
  opts: { max?: number } = {},
): Throttle {
  const counts = new LRUCache<CacheKey, { n: number }>({ max: opts.max ?? 100_000, ttl: 1 });
  const keyOf = (k: ThrottleKey) => platformCacheKey(namespace, k.kind, k.value);
  const rule = (k: ThrottleKey) => {
    const r = rules[k.kind];
    if (!r) throw new TypeError(`no throttle rule for ${k.kind}`);
    return r;
  };
  return {
    acquire(keys) {
      let wait = 0;
      for (const k of keys) {
        const key = keyOf(k);
        const entry = counts.get(key);
        if (entry && entry.n >= rule(k).limit) wait = Math.max(wait, counts.getRemainingTTL(key));
      }
      if (wait > 0) throw throttled(Math.max(1, Math.ceil(wait / 1000)));
      for (const k of keys) {
        const key = keyOf(k);
        const entry = counts.get(key);
        if (entry) entry.n++;
        else counts.set(key, { n: 1 }, { ttl: rule(k).windowMs });
      }
    },
    release(keys) {
      for (const k of keys) {
        const entry = counts.get(keyOf(k));
        if (entry) entry.n = Math.max(0, entry.n - 1);
      }
    },
    reset(k) {
      counts.delete(keyOf(k));
    },
  };
}

/** Login throttling defaults: 5 failures per account and 20 per client address, per 15 minutes. */
export const LOGIN_THROTTLE_RULES = {
  account: { limit: 5, windowMs: 15 * 60_000 },
  ip: { limit: 20, windowMs: 15 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/** Mail-sending requests: 3 per account and 20 per address per 15 minutes. */
export const MAIL_THROTTLE_RULES = {
  account: { limit: 3, windowMs: 15 * 60_000 },
  ip: { limit: 20, windowMs: 15 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/**
 * Account creation (sign-up, register-and-accept of an invitation): 20 per client address per hour,
 * every attempt counted, successful or not.
 */
export const SIGNUP_THROTTLE_RULES = {
  ip: { limit: 20, windowMs: 60 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/**
 * Mails to an address the caller chose (sign-up, "someone tried to sign up", verification resend,
 * password reset): 5 per address per hour, counted before anyone looks the address up, so the answer is
 * the same whether it has an account or not.
 */
export const RECIPIENT_THROTTLE_RULES = {
  recipient: { limit: 5, windowMs: 60 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;
