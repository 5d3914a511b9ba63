import { LRUCache } from 'lru-cache';
import { invalidCredentials } from './auth.errors.js';
import { cookieValue, serializeCookie } from '../../platform/http/cookies.js';
import { organizationNotFound } from '../../platform/http/auth.js';
import { uuidv7 } from '../../platform/ids.js';
import { decodeCursor, toPage, pageLimit } from '../../platform/pagination.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { platformCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import * as repo from './sessions.repository.js';
import { hashToken, isTokenFormat, newToken } from './tokens.js';
import { activeOrganizationsOf } from './user-organizations.js';
import {
  toSession,
  toSessionUser,
  type ResolvedSession,
  type Session,
  type SessionService,
  type SessionServiceOptions,
} from './sessions.types.js';

export * from './sessions.types.js';

export const SESSION_COOKIE = 'sr_session';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const live = (s: Session, now: number) =>
  s.idleExpiresAt.getTime() > now && s.absoluteExpiresAt.getTime() > now;

/**
 * Server-side sessions: opaque 32-byte tokens, stored only as SHA-256 hashes, with a sliding idle expiry
 * and an absolute one. `resolve` answers from an in-process cache (at most 30 s);
 * every revocation, rotation or change through this service drops the entry at once. Another process's
 * cache may answer for a revoked token until its entry expires (at most `cacheTtlMs`).
 */
export function createSessionService(opts: SessionServiceOptions): SessionService {
  const { db, log } = opts;
  const idleMs = opts.idleTtlMs ?? 7 * DAY;
  const absoluteMs = opts.absoluteTtlMs ?? 30 * DAY;
  const cacheTtlMs = Math.min(opts.cacheTtlMs ?? 30_000, 30_000);
  const touchMs = opts.touchIntervalMs ?? MINUTE;
  const bySession = new Map<string, CacheKey>();
  const cache = new LRUCache<CacheKey, ResolvedSession>({
    max: opts.cacheMax ?? 10_000,
    ttl: Math.max(cacheTtlMs, 1),
    // Read on every request: reading the clock per check is cheaper than the default timer per millisecond.
    ttlResolution: 0,
    dispose: (value, key) => {
      if (bySession.get(value.session.id) === key) bySession.delete(value.session.id);
    },
  });
  // Keyed by the token itself, so a cache hit costs no hashing (the request carries the token in memory
  // anyway); the database only ever sees and stores its SHA-256.
  const keyOf = (token: string) => platformCacheKey('auth.session', token);
  // Bumped by every invalidation: a resolve that read the database before an invalidation must not
  // cache what it read after it.
  let generation = 0;
  const forget = (sessionId: string) => {
    generation++;
    const key = bySession.get(sessionId);
    if (key) cache.delete(key);
  };
  const dropUser = (userId: string, exceptSessionId?: string) => {
    generation++;
    for (const [key, value] of cache.entries()) {
      if (value.user.id === userId && value.session.id !== exceptSessionId) cache.delete(key);
    }
  };
  const remember = (key: CacheKey, value: ResolvedSession, readAt: number) => {
    if (cacheTtlMs <= 0 || readAt !== generation) return;
    const left = Math.min(value.session.idleExpiresAt.getTime(), value.session.absoluteExpiresAt.getTime());
    const ttl = Math.min(cacheTtlMs, left - Date.now());
    if (ttl <= 0) return;
    const previous = bySession.get(value.session.id);
    if (previous && previous !== key) cache.delete(previous);
    cache.set(key, value, { ttl });
    bySession.set(value.session.id, key);
  };

  async function changeToken(
    sessionId: string,
    extra: { current_organization_id?: string | null; two_factor_verified?: boolean } = {},
  ) {
    if (!isTenantId(sessionId)) return null;
    const { token, hash } = newToken();
    const row = await repo.updateLiveSession(db, sessionId, { token_hash: hash, ...extra });
    forget(sessionId);
    opts.onInvalidate?.({ sessionId });
    return row ? { token, session: toSession(row) } : null;
  }

  /** A session not cached, or due for its `last_seen_at` touch: the database is asked. */
  async function resolveSlow(
    token: string,
    key: CacheKey,
    now: number,
    cached: ResolvedSession | undefined,
  ): Promise<ResolvedSession | null> {
    const readAt = generation;
    let found = cached;
    // Only what was just read from the database is (re)cached: a hit never extends its own lifetime,
    // so a revocation made elsewhere is seen within cacheTtlMs however busy the session is.
    let fresh = false;
    if (!found) {
      const row = await repo.findSessionByTokenHash(db, hashToken(token));
      if (!row || row.revoked_at !== null) return null;
      found = { session: toSession(row), user: toSessionUser(row) };
      if (!live(found.session, now)) return null;
      fresh = true;
    }
    if (now - found.session.lastSeenAt.getTime() >= touchMs) {
      const touched = await repo.touchSession(db, found.session.id, idleMs);
      if (!touched) {
        forget(found.session.id);
        return null;
      }
      found = { session: toSession(touched), user: found.user };
      fresh = true;
    }
    if (fresh) remember(key, found, readAt);
    return found;
  }

  return {
    async create(userId, meta, createOpts) {
      const { token, hash } = newToken();
      await repo.purgeEndedSessions(db, userId);
      const row = await repo.insertSession(db, {
        id: uuidv7(),
        user_id: userId,
        token_hash: hash,
        current_organization_id: createOpts.currentOrganizationId,
        two_factor_verified: createOpts.twoFactorVerified ?? false,
        user_agent: meta.userAgent ? meta.userAgent.slice(0, 512) : null,
        ip: meta.ip ? meta.ip.slice(0, 64) : null,
        idleMs,
        absoluteMs,
        sso_connection_id: createOpts.ssoConnectionId ?? null,
        notAfter: createOpts.notAfter ?? null,
        ...(createOpts.credentialsChangedAt ? { credentialsChangedAt: createOpts.credentialsChangedAt } : {}),
      });
      // Guarded by the credentials a sign-in read, which changed since: the sign-in is refused as any
      // other with a password that is not (or no longer) the account's.
      if (!row) throw invalidCredentials();
      log?.info({ session_id: row.id, user: userId }, 'session created');
      return { token, session: toSession(row) };
    },

    resolve(token) {
      if (!isTokenFormat(token)) return null;
      const key = keyOf(token);
      const now = Date.now();
      const found = cache.get(key);
      if (found && !live(found.session, now)) {
        cache.delete(key);
        return null;
      }
      // The hot path: a cached session that needs no touch is answered as it is, without a promise.
      if (found && now - found.session.lastSeenAt.getTime() < touchMs) return found;
      return resolveSlow(token, key, now, found);
    },

    rotate: (sessionId) => changeToken(sessionId),

    async setCurrentOrganization(sessionId, organizationId, sessionToken) {
      if (!isTenantId(sessionId) || !isTenantId(organizationId)) throw organizationNotFound();
      const current = await db
        .selectFrom('sessions')
        .select(['user_id'])
        .where('id', '=', sessionId)
        .where('token_hash', '=', hashToken(sessionToken))
        .executeTakeFirst();
      if (!current) throw organizationNotFound();
      const orgs = await activeOrganizationsOf(db, current.user_id, sessionToken, log);
      if (!orgs.some((o) => o.organization_id === organizationId)) throw organizationNotFound();
      const result = await db.transaction().execute(async (trx) => {
        const { token, hash } = newToken();
        const row = await repo.updateLiveSession(trx, sessionId, {
          token_hash: hash,
          current_organization_id: organizationId,
        });
        if (!row) return null;
        await trx
          .updateTable('users')
          .set({ last_organization_id: organizationId, updated_at: new Date() })
          .where('id', '=', row.user_id)
          .execute();
        return { token, session: toSession(row) };
      });
      forget(sessionId);
      opts.onInvalidate?.({ sessionId });
      if (!result) throw organizationNotFound();
      dropUser(result.session.userId);
      opts.onInvalidate?.({ userId: result.session.userId });
      return result;
    },

    markTwoFactorVerified: (sessionId) => changeToken(sessionId, { two_factor_verified: true }),

    async revoke(sessionId, revokeOpts) {
      if (!isTenantId(sessionId)) return false;
      const row = await db.transaction().execute(async (trx) => {
        const revoked = await repo.revokeSession(trx, sessionId, revokeOpts?.userId);
        const families = revoked ? await repo.revokeRefreshTokensOfEndedSessions(trx, revoked.user_id) : 0;
        return revoked && { ...revoked, families };
      });
      forget(sessionId);
      opts.onInvalidate?.({ sessionId });
      if (!row) return false;
      // The API tokens this session minted end with it: their cached liveness is the user's.
      if (row.families > 0) opts.onInvalidate?.({ userId: row.user_id });
      log?.info({ session_id: sessionId, user: row.user_id }, 'session revoked');
      return true;
    },

    async revokeForSsoConnection(connectionId) {
      if (!isTenantId(connectionId)) return 0;
      const users = await db.transaction().execute(async (trx) => {
        const ids = await repo.revokeConnectionSessions(trx, connectionId);
        for (const u of ids) await repo.revokeRefreshTokensOfEndedSessions(trx, u);
        return ids;
      });
      for (const u of users) {
        dropUser(u);
        opts.onInvalidate?.({ userId: u });
      }
      log?.info(
        { sso_connection_id: connectionId, users: users.length },
        'sessions of an SSO connection revoked',
      );
      return users.length;
    },

    async revokeAllForUser(userId, exceptSessionId) {
      const n = await db.transaction().execute(async (trx) => {
        const sessions = await repo.revokeUserSessions(trx, userId, exceptSessionId);
        await repo.revokeRefreshTokensOfEndedSessions(trx, userId);
        return sessions;
      });
      dropUser(userId, exceptSessionId);
      if (n > 0) opts.onInvalidate?.({ userId });
      log?.info({ user: userId, revoked: n }, 'sessions revoked');
      return n;
    },

    async listForUser(userId, listOpts) {
      const limit = pageLimit(listOpts?.limit);
      const before = decodeCursor(listOpts?.cursor, isTenantId);
      const rows = await repo.listLiveSessions(db, userId, { before, limit: limit + 1 });
      return toPage(rows, limit, (r) => r.id, toSession);
    },

    invalidateUser: (userId) => dropUser(userId),
    userChanged(userId) {
      dropUser(userId);
      opts.onInvalidate?.({ userId });
    },
    forgetSession: (sessionId) => forget(sessionId),

    tokenFromCookieHeader(header) {
      const token = cookieValue(header, SESSION_COOKIE);
      return isTokenFormat(token) ? token : null;
    },

    cookie(token, session) {
      const until = session ? session.absoluteExpiresAt.getTime() - Date.now() : absoluteMs;
      return serializeCookie(SESSION_COOKIE, token, {
        path: '/',
        httpOnly: true,
        secure: opts.secureCookies,
        sameSite: 'Lax',
        maxAge: Math.max(0, Math.floor(until / 1000)),
      });
    },

    clearCookie() {
      return serializeCookie(SESSION_COOKIE, '', {
        path: '/',
        httpOnly: true,
        secure: opts.secureCookies,
        sameSite: 'Lax',
        maxAge: 0,
      });
    },
  };
}
