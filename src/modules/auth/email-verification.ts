import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { AuthError, invalidToken } from './auth.errors.js';
import { consumeEmailToken, issueEmailToken, queueVerificationMail } from './email-tokens.js';
import type { Session, SessionMeta, SessionService } from './sessions.service.js';
import { clientAddress, recipientKey, type Throttle } from './throttle.js';
import { startSessionInStartingOrganization } from './user-organizations.js';
import { findUserById, markEmailVerified, toPublicUser, type PublicUser } from './users.repository.js';

export interface EmailVerificationDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  readonly publicUrl: string;
  /** Rules `account` and `ip` (see MAIL_THROTTLE_RULES). */
  readonly mailThrottle: Throttle;
  /** Rule `verification` (see RECIPIENT_THROTTLE_RULES): resends per address per hour. */
  readonly recipientThrottle: Throttle;
  readonly log?: Logger;
}

/** What following a verification link did. */
export type VerifyEmailResult =
  | { signedIn: false }
  | { signedIn: true; token: string; session: Session; twoFactorRequired: true }
  | {
      signedIn: true;
      token: string;
      session: Session;
      twoFactorRequired: false;
      user: PublicUser;
      currentOrganizationId: string | null;
    };

/** Verifying an email address with the single-use link mailed at sign-up (or resent). */
export function createEmailVerification(deps: EmailVerificationDeps) {
  const { db, sessions, log } = deps;
  return {
    /**
     * Consumes a verification token and marks the address verified (every instance drops its cached
     * copy of the user at once). With `signIn` (the request carried no live session) it also starts a
     * session, as a login does: in the user's last or first organization, waiting for the second factor
     * when the user has one. AUTH_TOKEN_INVALID when the token is unknown, used or expired.
     */
    async verifyEmail(
      token: string,
      signIn: (SessionMeta & { ip: string }) | null,
    ): Promise<VerifyEmailResult> {
      const user = await db.transaction().execute(async (trx) => {
        const id = await consumeEmailToken(trx, token, 'verify_email');
        if (!id) return undefined;
        await markEmailVerified(trx, id);
        return findUserById(trx, id);
      });
      if (!user) throw invalidToken();
      sessions.userChanged(user.id);
      log?.info({ user: user.id }, 'email verified');
      if (!signIn) return { signedIn: false };
      const {
        token: sessionToken,
        session,
        currentOrganizationId,
      } = await startSessionInStartingOrganization(db, sessions, user, signIn, log);
      if (user.totp_enabled_at !== null) {
        return { signedIn: true, token: sessionToken, session, twoFactorRequired: true };
      }
      return {
        signedIn: true,
        token: sessionToken,
        session,
        twoFactorRequired: false,
        user: toPublicUser(user),
        currentOrganizationId,
      };
    },

    /**
     * Sends a new verification link (earlier ones stop working). 409 when already verified; 3 per account
     * and 20 per client address per 15 min, 5 mails per address per hour (429 with Retry-After).
     */
    async resendVerification(userId: string, meta: { ip: string }): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const user = await findUserById(trx, userId, { forUpdate: true });
        if (!user) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
        if (user.email_verified_at) {
          throw new AuthError('AUTH_EMAIL_ALREADY_VERIFIED', 'this email address is already verified');
        }
        deps.mailThrottle.acquire([{ kind: 'account', value: `verify:${user.id}` }, clientAddress(meta.ip)]);
        deps.recipientThrottle.acquire([recipientKey('verification', user.email_normalized)]);
        const token = await issueEmailToken(trx, user.id, 'verify_email');
        await queueVerificationMail(trx, deps.publicUrl, user.email, user.id, token);
      });
    },
  };
}
