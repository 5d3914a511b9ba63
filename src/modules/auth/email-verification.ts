import type { PlatformDb } from '../../platform/db/platform-db.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { AuthError, invalidToken } from './auth.errors.js';
import { consumeEmailToken, issueEmailToken, queueVerificationMail } from './email-tokens.js';
import type { SessionService } from './sessions.service.js';
import type { Throttle } from './throttle.js';
import { findUserById, markEmailVerified } from './users.repository.js';

export interface EmailVerificationDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  readonly publicUrl: string;
  /** Rule `account` (see MAIL_THROTTLE_RULES). */
  readonly mailThrottle: Throttle;
}

/** Verifying an email address with the single-use link mailed at sign-up (or resent). */
export function createEmailVerification(deps: EmailVerificationDeps) {
  const { db, sessions } = deps;
  return {
    /** Consumes a verification token and marks the address verified. AUTH_TOKEN_INVALID when unknown, used or expired. */
    async verifyEmail(token: string): Promise<void> {
      const userId = await db.transaction().execute(async (trx) => {
        const id = await consumeEmailToken(trx, token, 'verify_email');
        if (id) await markEmailVerified(trx, id);
        return id;
      });
      if (!userId) throw invalidToken();
      sessions.invalidateUser(userId);
    },

    /** Sends a new verification link (earlier ones stop working). 409 when already verified; 3 per 15 min. */
    async resendVerification(userId: string): Promise<void> {
      await db.transaction().execute(async (trx) => {
        const user = await findUserById(trx, userId, { forUpdate: true });
        if (!user) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
        if (user.email_verified_at) {
          throw new AuthError('AUTH_EMAIL_ALREADY_VERIFIED', 'this email address is already verified');
        }
        deps.mailThrottle.acquire([{ kind: 'account', value: `verify:${user.id}` }]);
        const token = await issueEmailToken(trx, user.id, 'verify_email');
        await queueVerificationMail(trx, deps.publicUrl, user.email, user.id, token);
      });
    },
  };
}
