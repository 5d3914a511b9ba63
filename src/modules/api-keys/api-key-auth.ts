import { andThen, type MaybePromise } from '../../platform/cache/maybe-promise.js';
import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Permission } from '../../platform/authz/permissions.js';
import { isPermission } from '../../platform/authz/roles.js';
import { platformCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import type { ApiKeyAuthRow } from '../../platform/tenancy/privileged.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { timingSafeEqual } from 'node:crypto';
import { bearerApiKey, hashSecret, parseApiKey } from './api-key-format.js';
import { createApiKeyRateLimiter, rateLimitHeaders, type RateLimitState } from './api-key-rate-limit.js';
import { createApiKeyUsage } from './api-key-usage.js';
import { ApiKeysError, apiKeyInvalid } from './api-keys.errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set for a request authenticated by an API key: the key's rate-limit window (response headers). */
    apiKeyRateLimit?: RateLimitState;
  }
}

/** A verified API key: the organization it belongs to and what it may do there. */
export interface VerifiedApiKey {
  /** `api_keys.id` (the principal's `keyId`). */
  readonly id: string;
  readonly organizationId: string;
  readonly permissions: ReadonlySet<Permission>;
}

export interface ApiKeyAuth {
  /**
   * The key of an `Authorization: Bearer srk_…` request, verified, counted against its rate limit (the
   * state is left on `request.apiKeyRateLimit`) and its use recorded; null (synchronously) when the
   * request carries no API key. Rejects with API_KEY_INVALID (malformed, unknown, wrong secret: one answer), API_KEY_REVOKED,
   * API_KEY_EXPIRED (all 401) or RATE_LIMITED (429).
   */
  authenticate(request: FastifyRequest): Promise<VerifiedApiKey> | null;
  /**
   * `authenticate` for the request path: the verified key itself when it is cached (no promise), else a
   * promise; it may throw rather than reject. Null when the request carries no API key.
   */
  check(request: FastifyRequest): MaybePromise<VerifiedApiKey> | null;
  /** Drops the cached copy of a key (by its public key id) and any load of it in flight. */
  invalidate(keyId: string): void;
  /** Writes the batched `last_used_at` values now. */
  flush(): Promise<void>;
  /** Stops the `last_used_at` timer and writes what is left (after the HTTP server has stopped). */
  close(): Promise<void>;
}

export interface ApiKeyAuthDeps {
  /** The named privileged lookup by public key id and the SHA-256 of the presented secret
   *  (`PrivilegedOps.apiKeyByKeyId`): null unless both match one key. */
  lookup: (keyId: string, secretHash: Buffer) => Promise<ApiKeyAuthRow | null>;
  withTenant: WithTenant;
  /** Budget per minute of a key created without one (default 600). */
  defaultRateLimitPerMinute?: number;
  /** How long a verified key stays cached (default 60 s): the bound on staleness without the bus. */
  ttlMs?: number;
  /** `last_used_at` write interval (default 10 s). */
  usageIntervalMs?: number;
  log?: Logger;
  now?: () => number;
}

interface CachedKey {
  readonly id: string;
  readonly organizationId: string;
  /** The SHA-256 of the secret the database accepted for this key (it never hands out its own). */
  readonly secretHash: Buffer;
  readonly permissions: ReadonlySet<Permission>;
  readonly expiresAt: number | null;
  readonly revoked: boolean;
  readonly limit: number | null;
}

/** Most failed secrets remembered per key id (beyond them, each costs its lookup). */
const MAX_FAILED_PER_KEY = 32;

const sameHash = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/**
 * API key authentication on the request path. A verified key is cached in process (keyed by
 * `platformCacheKey('api-key', keyId)`: the organization is not known before the lookup), so the hot path
 * does no query; the secret is still hashed and compared in constant time (against the hash of the secret
 * the database accepted) on every request, and expiry is checked against the cached `expires_at` every
 * time. The database is asked with the presented secret's hash and answers only for the right one, so it
 * never hands out a key's stored hash. Unknown key ids are never cached (a new key works at once). A
 * revocation drops the entry here and, through the invalidation bus, on every instance; a load
 * in flight when its key is invalidated does not store its result.
 */
export function createApiKeyAuth(deps: ApiKeyAuthDeps): ApiKeyAuth {
  const now = deps.now ?? Date.now;
  const defaultLimit = deps.defaultRateLimitPerMinute ?? 600;
  const cache = createSingleFlightCache<CachedKey>({ max: 50_000, ttlMs: deps.ttlMs ?? 60_000 });
  const limiter = createApiKeyRateLimiter({ now });
  const usage = createApiKeyUsage({
    withTenant: deps.withTenant,
    intervalMs: deps.usageIntervalMs,
    log: deps.log,
    now,
  });

  // Key ids nobody has (or, the database cannot tell us apart, secrets that are not the key's): the failed
  // secret hashes of a key id are remembered briefly, so a flood of one made-up key costs one privileged
  // lookup (and one log line) per 5 s, not one per request; a wrong secret never locks out the right one. A
  // created key's id is dropped from it (bus message).
  // Read on every API key request: ttlResolution 0 reads the clock instead of arming a timer per read.
  const unknown = new LRUCache<CacheKey, Set<string>>({ max: 10_000, ttl: 5_000, ttlResolution: 0 });
  const failed = (keyId: string, hash: Buffer) =>
    unknown.get(platformCacheKey('api-key', keyId))?.has(hash.toString('hex')) ?? false;

  const load = async (keyId: string, hash: Buffer): Promise<CachedKey | null> => {
    const row = await deps.lookup(keyId, hash);
    if (!row) {
      const key = platformCacheKey('api-key', keyId);
      const seen = unknown.get(key) ?? new Set<string>();
      if (seen.size < MAX_FAILED_PER_KEY) seen.add(hash.toString('hex'));
      if (!unknown.has(key)) unknown.set(key, seen);
      return null;
    }
    return {
      id: row.id,
      organizationId: row.organizationId,
      secretHash: hash,
      permissions: new Set(row.scopes.filter(isPermission)),
      expiresAt: row.expiresAt?.getTime() ?? null,
      revoked: row.revokedAt !== null,
      limit: row.rateLimitPerMinute,
    };
  };

  const matching = (key: CachedKey | null, hash: Buffer) =>
    key && sameHash(key.secretHash, hash) ? key : null;

  /** The key if `hash` is its secret's; null otherwise. A hit costs no query and no promise. */
  const find = (keyId: string, hash: Buffer): MaybePromise<CachedKey | null> => {
    if (failed(keyId, hash)) return null;
    let mine = false;
    const found = cache.get(platformCacheKey('api-key', keyId), () => {
      mine = true;
      return load(keyId, hash);
    });
    if (!(found instanceof Promise)) return matching(found, hash);
    return found.then(async (key) =>
      // Joined another request's lookup, made with another secret that was not the key's: ask with ours.
      matching(!key && !mine ? await load(keyId, hash) : key, hash),
    );
  };

  function verify(request: FastifyRequest, presented: string): MaybePromise<VerifiedApiKey> {
    const parsed = parseApiKey(presented);
    if (!parsed) throw apiKeyInvalid();
    return andThen(find(parsed.keyId, hashSecret(parsed.secret)), (key) => admit(request, key));
  }

  /** A found key's state, use and budget: what the request may do with it. */
  function admit(request: FastifyRequest, key: CachedKey | null): VerifiedApiKey {
    if (!key) throw apiKeyInvalid();
    if (key.revoked) throw new ApiKeysError('API_KEY_REVOKED', 'API key has been revoked');
    if (key.expiresAt !== null && key.expiresAt <= now()) {
      throw new ApiKeysError('API_KEY_EXPIRED', 'API key has expired');
    }
    // A verified key was used, whether or not this request is within its budget.
    usage.record(key.organizationId, key.id);
    const rate = limiter.consume(key.organizationId, key.id, key.limit ?? defaultLimit);
    request.apiKeyRateLimit = rate;
    if (!rate.allowed) {
      throw new ApiKeysError('RATE_LIMITED', 'rate limit exceeded for this API key', {
        retryAfterSeconds: rate.resetSeconds,
      });
    }
    return { id: key.id, organizationId: key.organizationId, permissions: key.permissions };
  }

  return {
    authenticate(request) {
      const presented = bearerApiKey(request.headers.authorization);
      if (presented === undefined) return null;
      // The executor turns a synchronous throw into a rejection.
      return new Promise<VerifiedApiKey>((resolve) => resolve(verify(request, presented)));
    },

    check(request) {
      const presented = bearerApiKey(request.headers.authorization);
      return presented === undefined ? null : verify(request, presented);
    },

    invalidate(keyId) {
      const key = platformCacheKey('api-key', keyId);
      cache.drop(key);
      unknown.delete(key);
    },

    flush: () => usage.flush(),
    close: () => usage.close(),
  };
}

/**
 * An `onSend` hook (callback style: it runs on every response) adding the RateLimit-* headers, and
 * Retry-After on a 429, to every response of a request authenticated by an API key.
 */
export function rateLimitHeadersHook(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (err: Error | null, payload?: unknown) => void,
): void {
  const rate = request.apiKeyRateLimit;
  if (rate) void reply.headers(rateLimitHeaders(rate));
  done(null, payload);
}
