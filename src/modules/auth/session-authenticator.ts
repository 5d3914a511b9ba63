import type { FastifyRequest } from 'fastify';
import type { Authenticated } from '../../platform/http/auth.js';
import type { MaybePromise } from '../../platform/cache/maybe-promise.js';
import { checkCsrf } from './csrf.js';
import type { ResolvedSession, SessionService } from './sessions.service.js';

export interface SessionAuthDeps {
  readonly sessions: SessionService;
  /** Origins allowed to make cookie-authenticated changes (normalized: see `normalizeOrigins`). */
  readonly allowedOrigins: readonly string[];
}

/** What a session establishes, beyond `Authenticated`: the session's organization and 2FA state. */
export interface SessionAuthenticated extends Authenticated {
  readonly principal: { readonly kind: 'user'; readonly userId: string; readonly sessionId: string };
  readonly userId: string;
  readonly sessionId: string;
  /** The organization the session acts in (switch with `setCurrentOrganization`); null when none. */
  readonly currentOrganizationId: string | null;
  readonly twoFactorVerified: boolean;
  readonly emailVerified: boolean;
}

/** The request's parsed session token, under a module-private symbol (cheaper than a WeakMap entry per
 *  request). */
const PRESENTED = Symbol('session.presented');
type PresentedSlot = { [PRESENTED]?: string | null };

/**
 * The well-formed `sr_session` token the request presents, or null. The Cookie header is parsed once per
 * request: authentication, the credential handed to privileged lookups and any route reading it again
 * share the result.
 */
export function presentedSessionToken(
  request: FastifyRequest,
  sessions: Pick<SessionService, 'tokenFromCookieHeader'>,
): string | null {
  const slot = request as unknown as PresentedSlot;
  let token = slot[PRESENTED];
  if (token === undefined) {
    token = sessions.tokenFromCookieHeader(request.headers.cookie);
    slot[PRESENTED] = token;
  }
  return token;
}

/**
 * The live session behind the request's `sr_session` cookie, including one still waiting for its second
 * factor (for the TOTP verification route), with CSRF enforced for unsafe methods. Null without a valid
 * cookie. Answers synchronously from the session cache (no promise), so it may throw rather than reject.
 *
 * @throws AuthError CSRF_ORIGIN_MISMATCH when a cookie-carrying unsafe request has a foreign or no origin
 */
export function resolveSessionCookie(
  request: FastifyRequest,
  deps: SessionAuthDeps,
): MaybePromise<ResolvedSession | null> {
  const token = presentedSessionToken(request, deps.sessions);
  if (!token) return null;
  checkCsrf(request, deps.allowedOrigins);
  return deps.sessions.resolve(token);
}

/** True when the user has TOTP enabled and this session has not yet verified the second factor. */
export function awaitingSecondFactor(r: ResolvedSession): boolean {
  return r.user.twoFactorEnabled && !r.session.twoFactorVerified;
}

/**
 * Authenticates a request by its session cookie: reads `sr_session`, enforces CSRF on unsafe methods
 * (throws 403 CSRF_ORIGIN_MISMATCH), resolves the session, and refuses (null → 401) one that is unknown,
 * revoked, expired, or still waiting for its second factor.
 */
export async function authenticateSession(
  request: FastifyRequest,
  deps: SessionAuthDeps,
): Promise<SessionAuthenticated | null> {
  const resolved = await resolveSessionCookie(request, deps);
  if (!resolved || awaitingSecondFactor(resolved)) return null;
  const { session, user } = resolved;
  return {
    principal: { kind: 'user', userId: user.id, sessionId: session.id },
    userId: user.id,
    sessionId: session.id,
    isPlatformAdmin: user.isPlatformAdmin,
    currentOrganizationId: session.currentOrganizationId,
    twoFactorVerified: session.twoFactorVerified,
    emailVerified: user.emailVerified,
    // The raw token: the database's proof of the user (hashed there; the runtime role reads only hashes).
    credential: { kind: 'session', token: presentedSessionToken(request, deps.sessions)! },
  };
}
