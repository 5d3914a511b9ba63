import { isPending, type MaybePromise } from '../../platform/cache/maybe-promise.js';
import { createSingleFlightCache } from '../../platform/cache/single-flight.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { platformCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import { CLOCK_TOLERANCE_SECONDS } from './access-tokens.js';
import { TokensError } from './tokens.errors.js';

/** What revocation knows about one user: when their credentials last changed, and their verified state. */
export interface UserTokenState {
  /** `users.credentials_changed_at` in milliseconds; tokens issued before it are refused. */
  credentialsChangedAtMs: number;
  emailVerified: boolean;
}

/**
 * Whether an access token is still alive beyond its signature: its refresh family (`sid`) not revoked
 * (a logout, a session or family revocation, reuse detection, a password change or reset, two-factor
 * turned off), and issued no earlier than the user's last credential change. Answers from an
 * in-process cache (single flight, so a cold key costs one small query however many requests wait for
 * it); every revocation drops the entries it concerns here and, through the invalidation bus, on every
 * other instance, so it reaches access tokens on their next request.
 */
export interface TokenRevocation {
  /**
   * Throws (or rejects with) TOKEN_REVOKED when the family is revoked or the token predates a credential
   * change. Answers synchronously when both states are cached (every bearer request asks).
   */
  check(claims: { userId: string; familyId: string; issuedAt: number }): MaybePromise<UserTokenState>;
  /** Drops the cached state of one family (after it was revoked). */
  forgetFamily(userId: string, familyId: string): void;
  /** Drops the cached state of a user and of all their families (credentials changed, sessions ended…). */
  forgetUser(userId: string): void;
}

const FAMILY_NS = 'tokens.family';
const USER_NS = 'tokens.user';

export const tokenRevoked = () =>
  new TokensError(
    'TOKEN_REVOKED',
    'access token revoked: its session or refresh token was ended; sign in again',
  );

/**
 * Builds the revocation check. `ttlMs` bounds how long an entry may answer when an invalidation from
 * another instance was lost (Redis outage): default 60 s.
 */
export function createTokenRevocation(deps: {
  db: PlatformDb;
  ttlMs?: number;
  max?: number;
}): TokenRevocation {
  const { db } = deps;
  const ttlMs = deps.ttlMs ?? 60_000;
  const families = createSingleFlightCache<{ live: boolean }>({ max: deps.max ?? 50_000, ttlMs });
  const users = createSingleFlightCache<UserTokenState | { missing: true }>({
    max: deps.max ?? 50_000,
    ttlMs,
  });
  const familyKey = (userId: string, familyId: string) => platformCacheKey(FAMILY_NS, userId, familyId);
  const familyPrefix = (userId: string) => `${platformCacheKey(FAMILY_NS, userId)}:`;

  const loadFamily = async (userId: string, familyId: string) => {
    const row = await db
      .selectFrom('refresh_tokens')
      .select('id')
      .where('family_id', '=', familyId)
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return { live: row !== undefined };
  };
  const loadUser = async (userId: string): Promise<UserTokenState | { missing: true }> => {
    const row = await db
      .selectFrom('users')
      .select(['credentials_changed_at', 'email_verified_at'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!row) return { missing: true };
    return {
      credentialsChangedAtMs: row.credentials_changed_at.getTime(),
      emailVerified: row.email_verified_at !== null,
    };
  };

  const decide = (
    claims: { issuedAt: number },
    family: { live: boolean } | null,
    user: UserTokenState | { missing: true } | null,
  ): UserTokenState => {
    if (!family?.live || !user || 'missing' in user) throw tokenRevoked();
    // `iat` comes from this server's clock and has whole seconds, the change time from the database's:
    // a token minted up to the clock tolerance before the change is let through here. Every change that
    // must end tokens (password change or reset, two-factor off) also revokes every family, which
    // refuses it exactly.
    const changedAt = Math.floor(user.credentialsChangedAtMs / 1000);
    if (claims.issuedAt + CLOCK_TOLERANCE_SECONDS < changedAt) throw tokenRevoked();
    return user;
  };

  // Every request of a cached token presents the same frozen claims object (access-tokens.ts): its two
  // keys are built once per token, not per request (the same strings each time, so the caches' lookups
  // reuse their hashes too). Only a frozen object is remembered: its fields cannot change under its keys.
  const keysOf = new WeakMap<object, { family: CacheKey; user: CacheKey }>();
  const keys = (claims: { userId: string; familyId: string }) => {
    let k = keysOf.get(claims);
    if (!k) {
      k = {
        family: familyKey(claims.userId, claims.familyId),
        user: platformCacheKey(USER_NS, claims.userId),
      };
      if (Object.isFrozen(claims)) keysOf.set(claims, k);
    }
    return k;
  };

  return {
    check(claims) {
      const k = keys(claims);
      const family = families.get(k.family, () => loadFamily(claims.userId, claims.familyId));
      const user = users.get(k.user, () => loadUser(claims.userId));
      if (isPending(family) || isPending(user)) {
        return Promise.all([family, user]).then(([f, u]) => decide(claims, f, u));
      }
      return decide(claims, family, user);
    },
    forgetFamily(userId, familyId) {
      families.drop(familyKey(userId, familyId));
    },
    forgetUser(userId) {
      users.drop(platformCacheKey(USER_NS, userId));
      const prefix = familyPrefix(userId);
      families.dropWhere((key: CacheKey) => key.startsWith(prefix));
    },
  };
}
