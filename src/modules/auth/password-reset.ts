import type { Logger } from 'pino';
import { claimProvenAddress } from './address-claim.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { AuthError, invalidToken } from './auth.errors.js';
import { normalizeEmail } from './email-address.js';
import { consumeEmailToken, retireEmailTokens } from './email-tokens.js';
import { queuePasswordReset } from './password-reset-job.js';
import { assertPasswordAcceptable } from './password-policy.js';
import { samePassword, type PasswordHasher } from './passwords.js';
import * as sessionsRepo from './sessions.repository.js';
import { toSession, type Session, type SessionService } from './sessions.service.js';
import { clientAddress, recipientKey, signedInAttemptKey, type Throttle } from './throttle.js';
import { isTokenFormat, newToken } from './tokens.js';
import { findUserById, setPasswordHash } from './users.repository.js';

export interface PasswordFlowsDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  readonly hasher: PasswordHasher;
  readonly publicUrl: string;
  /**
   * The login throttle (rule `user`): wrong current passwords count against the signed-in user's own
   * budget, which only holders of the user's sessions spend (strangers' sign-in failures do not).
   */
  readonly loginThrottle: Throttle;
  /** Rules `account` and `ip` (see MAIL_THROTTLE_RULES). */
  readonly mailThrottle: Throttle;
  /** Rule `reset` (see RECIPIENT_THROTTLE_RULES): reset mails per address per hour. */
  readonly recipientThrottle: Throttle;
  readonly log?: Logger;
}

/** Password reset by mailed link, and password change by a signed-in user. */
export function createPasswordFlows(deps: PasswordFlowsDeps) {
  const { db, sessions, hasher, log } = deps;

  /** After a credential change: every other way in is closed, in the caller's transaction. */
  async function closeOtherAccess(trx: sessionsRepo.IdentityDb, userId: string, keepSessionId?: string) {
    await sessionsRepo.revokeUserSessions(trx, userId, keepSessionId);
    await sessionsRepo.revokeUserRefreshTokens(trx, userId);
    await retireEmailTokens(trx, userId, 'reset_password');
  }

  return {
    /**
     * Mails a reset link when the address belongs to an account; answers the same either way, after the
     * same work: past the throttles it queues one `auth.password-reset` job for the address and looks
     * nothing up (the worker does: password-reset-job.ts), so the request's timing does not tell who has
     * an account. At most 3 requests per address per 15 min and 5 per address per hour (beyond that,
     * silently none); 20 requests per client address per 15 min (429).
     */
    async requestPasswordReset(email: string, meta: { ip: string }): Promise<void> {
      deps.mailThrottle.acquire([clientAddress(meta.ip)]);
      const normalized = normalizeEmail(email);
      try {
        deps.mailThrottle.acquire([{ kind: 'account', value: `reset:${normalized}` }]);
        deps.recipientThrottle.acquire([recipientKey('reset', normalized)]);
      } catch (err) {
        if (err instanceof AuthError && err.code === 'AUTH_THROTTLED') return;
        throw err;
      }
      await queuePasswordReset(db, normalized, deps.publicUrl);
      log?.info('password reset requested');
    },

    /**
     * Sets a new password with a reset token: single use, one hour. Marks the email verified (the link
     * proved it; a first proof claims the account: the social identities and the TOTP factor set up while
     * it was unproven go, see claimProvenAddress), moves credentials_changed_at, and revokes EVERY session
     * and refresh token of the user.
     * A refused password leaves the token usable.
     */
    async confirmPasswordReset(token: string, password: string): Promise<void> {
      if (!isTokenFormat(token)) throw invalidToken();
      assertPasswordAcceptable(password);
      const hash = await hasher.hash(password);
      const userId = await db.transaction().execute(async (trx) => {
        const id = await consumeEmailToken(trx, token, 'reset_password');
        if (!id) return null;
        const user = await findUserById(trx, id, { forUpdate: true });
        if (!user) return null;
        assertPasswordAcceptable(password, user.email_normalized);
        // The link proved the address: a first proof claims the account (claimProvenAddress) before the
        // owner's own password is set.
        await claimProvenAddress(trx, id, { clearPassword: true });
        await setPasswordHash(trx, id, hash, { credentialsChanged: true });
        await closeOtherAccess(trx, id);
        return id;
      });
      if (!userId) throw invalidToken();
      sessions.userChanged(userId);
      log?.info({ user: userId }, 'password reset; every session revoked');
    },

    /**
     * Changes the password of the signed-in user, who must give the current one (wrong answers count
     * against the user's own budget, rule `user` of the login throttle) and a different new one (AUTH_PASSWORD_UNCHANGED). Rotates the current
     * session (the returned token; null when the caller has no session, e.g. a bearer token) and revokes
     * every other session and every refresh token family (their access tokens are refused from the next
     * request on).
     */
    async changePassword(
      who: { userId: string; sessionId: string | null; ip: string },
      input: { currentPassword: string; newPassword: string },
    ): Promise<{ token: string; session: Session } | null> {
      const user = await findUserById(db, who.userId);
      if (!user) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
      const attempt = signedInAttemptKey(user.id);
      deps.loginThrottle.acquire([attempt]);
      const ok = user.password_hash
        ? await hasher.verify(user.password_hash, input.currentPassword)
        : await hasher.verifyDummy(input.currentPassword);
      if (!ok) throw new AuthError('AUTH_PASSWORD_INCORRECT', 'the current password is incorrect');
      deps.loginThrottle.reset(attempt);
      // Compared as the hasher sees them: a fullwidth or decomposed variant is the same password.
      if (samePassword(input.newPassword, input.currentPassword)) {
        throw new AuthError('AUTH_PASSWORD_UNCHANGED', 'the new password must differ from the current one');
      }
      assertPasswordAcceptable(input.newPassword, user.email_normalized);
      const hash = await hasher.hash(input.newPassword);
      const { token, hash: tokenHash } = newToken();
      const keep = who.sessionId ?? undefined;
      const result = await db.transaction().execute(async (trx) => {
        const rotated = keep
          ? await sessionsRepo.updateLiveSession(trx, keep, { token_hash: tokenHash })
          : null;
        if (rotated === undefined) return { ok: false as const };
        await setPasswordHash(trx, user.id, hash, { credentialsChanged: true });
        await closeOtherAccess(trx, user.id, keep);
        return { ok: true as const, rotated };
      });
      sessions.userChanged(user.id);
      if (!result.ok) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
      log?.info({ user: user.id }, 'password changed; other sessions revoked');
      const row = result.rotated;
      if (!row) return null;
      return { token, session: toSession(row) };
    },
  };
}
