import type { Logger } from 'pino';
import type { MaybePromise } from '../../platform/cache/maybe-promise.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { Page } from '../../platform/pagination.js';
import type { SessionRow, SessionWithUserRow } from './sessions.repository.js';

/** A session as the service hands it out (never its token or hash). */
export interface Session {
  id: string;
  userId: string;
  currentOrganizationId: string | null;
  twoFactorVerified: boolean;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

/** The user fields a resolved session carries (cached with it for at most the cache TTL). */
export interface SessionUser {
  id: string;
  email: string;
  emailVerified: boolean;
  twoFactorEnabled: boolean;
  isPlatformAdmin: boolean;
  lastOrganizationId: string | null;
}

export interface ResolvedSession {
  session: Session;
  user: SessionUser;
}

/** Where a session was started from (shown in the session list). */
export interface SessionMeta {
  ip?: string | null;
  userAgent?: string | null;
}

export interface SessionServiceOptions {
  readonly db: PlatformDb;
  /** `Secure` on the cookie. Only plain-http localhost development may turn it off. */
  readonly secureCookies: boolean;
  /** Idle expiry, sliding (default 7 days). */
  readonly idleTtlMs?: number;
  /** Absolute expiry from creation (default 30 days). */
  readonly absoluteTtlMs?: number;
  /** How long `resolve` may answer from memory (default and maximum 30 s; 0 disables the cache). */
  readonly cacheTtlMs?: number;
  readonly cacheMax?: number;
  /** Minimum time between two writes of last_seen_at / idle_expires_at (default 1 minute). */
  readonly touchIntervalMs?: number;
  readonly log?: Logger;
  /**
   * Called after a revocation or rotation dropped entries of this process's cache, so other server
   * instances can drop theirs (the composition root broadcasts it; see `forgetSession`).
   */
  readonly onInvalidate?: (what: { sessionId: string } | { userId: string }) => void;
}

export interface SessionService {
  /**
   * Starts a session. Returns the token (set it with {@link SessionService.cookie}) and the session.
   * With `credentialsChangedAt`, only while that is still the user's `credentials_changed_at`, atomically
   * (sessions.repository.ts `insertSession`); else AUTH_INVALID_CREDENTIALS (401) and no session.
   */
  create(
    userId: string,
    meta: SessionMeta,
    opts: {
      currentOrganizationId: string | null;
      twoFactorVerified?: boolean;
      /** The SSO connection signing the session in (revoked with it, `revokeForSsoConnection`). */
      ssoConnectionId?: string;
      /** Caps the absolute expiry (the IdP's stated session end, SAML SessionNotOnOrAfter). */
      notAfter?: Date;
      /** The user's `credentials_changed_at` as the sign-in that proved the credentials read it. */
      credentialsChangedAt?: Date;
    },
  ): Promise<{ token: string; session: Session }>;
  /** Revokes every live session an SSO connection signed in (deleted or deactivated). Returns how many users. */
  revokeForSsoConnection(connectionId: string): Promise<number>;
  /**
   * The live session of a token and its user, or null (unknown, malformed, revoked, expired): the value
   * itself on a cache hit that needs no touch (every authenticated request asks), else a promise.
   */
  resolve(token: string): MaybePromise<ResolvedSession | null>;
  /** Gives a live session a new token; the old one stops working at once. Null when not live. */
  rotate(sessionId: string): Promise<{ token: string; session: Session } | null>;
  /**
   * Switches the session's organization (and the user's last organization) after checking the user is an
   * ACTIVE member there (else the organization 404); rotates the token. Throws the same 404 for a
   * session that is no longer live. `sessionToken`: the session's RAW token (the database's proof of the
   * user for the membership lookup).
   */
  setCurrentOrganization(
    sessionId: string,
    organizationId: string,
    sessionToken: string,
  ): Promise<{ token: string; session: Session }>;
  /** Records that the second factor was verified; a privilege change, so it rotates the token. */
  markTwoFactorVerified(sessionId: string): Promise<{ token: string; session: Session } | null>;
  /** Revokes a live session (only if it belongs to `opts.userId`, when given). False when none matched. */
  revoke(sessionId: string, opts?: { userId?: string }): Promise<boolean>;
  /** Revokes every live session of a user except `exceptSessionId`. Returns how many. */
  revokeAllForUser(userId: string, exceptSessionId?: string): Promise<number>;
  /** The user's live sessions, newest first, cursor-paginated. */
  listForUser(userId: string, opts?: { limit?: number; cursor?: string }): Promise<Page<Session>>;
  /** Drops the user's cached sessions in THIS process (what another instance's `userChanged` asks for). */
  invalidateUser(userId: string): void;
  /**
   * After a change to the user or to their sessions or tokens made in a transaction (password, email
   * verification, two-factor): drops the user's cached sessions here and, through `onInvalidate`, on
   * every other instance (which also drop the user's cached access-token state).
   */
  userChanged(userId: string): void;
  /** Drops one session from this process's cache (what another instance's revocation asks for). */
  forgetSession(sessionId: string): void;
  /** The `sr_session` token a request presents, if well-formed. */
  tokenFromCookieHeader(header: string | string[] | undefined): string | null;
  /** `Set-Cookie` value carrying a token (HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age up to the absolute expiry). */
  cookie(token: string, session?: Pick<Session, 'absoluteExpiresAt'>): string;
  /** `Set-Cookie` value deleting the session cookie. */
  clearCookie(): string;
}

/** A session row as the service hands it out. */
export const toSession = (r: SessionRow): Session => ({
  id: r.id,
  userId: r.user_id,
  currentOrganizationId: r.current_organization_id,
  twoFactorVerified: r.two_factor_verified,
  userAgent: r.user_agent,
  ip: r.ip,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  idleExpiresAt: r.idle_expires_at,
  absoluteExpiresAt: r.absolute_expires_at,
});

export const toSessionUser = (r: SessionWithUserRow): SessionUser => ({
  id: r.user_id,
  email: r.email,
  emailVerified: r.email_verified_at !== null,
  twoFactorEnabled: r.totp_enabled_at !== null,
  isPlatformAdmin: r.is_platform_admin,
  lastOrganizationId: r.last_organization_id,
});
