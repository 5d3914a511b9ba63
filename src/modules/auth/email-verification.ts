import type { Logger } from 'pino';
import { claimProvenAddress } from './address-claim.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { AuthError, invalidToken } from './auth.errors.js';
import { consumeEmailToken, issueEmailToken, queueVerificationMail } from './email-tokens.js';
import type { Session, SessionMeta, SessionService } from './sessions.service.js';
import { clientAddress, recipientKey, type Throttle } from './throttle.js';
import { startSessionInStartingOrganization } from './user-organizations.js';
import { findUserById, toPublicUser, type PublicUser } from './users.repository.js';

export interface EmailVerificationDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  readonly publicUrl: string;
  /** Rules `account` and `ip` (see MAIL_THROTTLE_RULES). */
  readonly mailThrottle: Throttle;
  /** Rule `verification` (see RECIPIENT_THROTTLE_RULES): resends per address per hour. */
  readonly recipientThrottle: Throttle;
  /**
   * require-SSO (docs/sso.md): a verified member of an organization requiring SSO for the address is not
   * signed in by the link (the address is verified all the same); they sign in through the IdP.
   */
  readonly ssoRequiredFor?: (userId: string, email: string) => Promise<{ slug: string } | null>;
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
     * Consumes a verification token and marks the address verified. The FIRST verification also ends
     * every session and refresh-token family of the user and moves `credentials_changed_at` (access
     * tokens die on their next request): whoever signed in before the address was proven may have been
     * someone else (an attacker who signed up with the victim's address and their own password), so no
     * earlier session survives into the verified account; nor do the social identities linked or the TOTP
     * factor enrolled meanwhile (claimProvenAddress). Every instance drops its cached copy of the
     * user and of their sessions and tokens at once (the invalidation bus).
     *
     * With `signIn` it then starts a session for the verifier, as a login does (last or first
     * organization; waiting for the second factor when the user has one) — unless the request presented
     * a live session that this verification did not end (`presentedUserId`: another user's, or this
     * user's when the address was already verified), which it leaves as it is (`signedIn: false`), or the
     * user is a member an organization requires SSO of (`ssoRequiredFor`: `signedIn: false`, no session).
     * A browser without a session signs in only when it is the one that signed up
     * (`fromSignUpBrowser`, its `sr_signup` cookie: see signup-browser.ts); any other gets the address
     * verified and `signedIn: false` (login CSRF: a link someone else sends must not sign a browser in
     * to their account).
     * AUTH_TOKEN_INVALID when the token is unknown, used or expired.
     */
    async verifyEmail(
      token: string,
      signIn: (SessionMeta & { ip: string }) | null,
      presentedUserId: string | null = null,
      fromSignUpBrowser = false,
    ): Promise<VerifyEmailResult> {
      const verified = await db.transaction().execute(async (trx) => {
        const id = await consumeEmailToken(trx, token, 'verify_email');
        if (!id) return undefined;
        const before = await findUserById(trx, id, { forUpdate: true });
        if (!before) return undefined;
        // A first proof claims the account (claimProvenAddress); the password stays: the sign-up mailed
        // this link to the address its registrant typed.
        const first = await claimProvenAddress(trx, id, { clearPassword: false });
        const user = await findUserById(trx, id);
        return user && { user, ended: first };
      });
      if (!verified) throw invalidToken();
      const { user, ended } = verified;
      sessions.userChanged(user.id);
      log?.info({ user: user.id, sessions_ended: ended }, 'email verified');
      if (!signIn) return { signedIn: false };
      if (presentedUserId !== null && (presentedUserId !== user.id || !ended)) return { signedIn: false };
      if (presentedUserId === null && !fromSignUpBrowser) {
        log?.info({ user: user.id }, 'verification link sign-in skipped: not the browser that signed up');
        return { signedIn: false };
      }
      if (await deps.ssoRequiredFor?.(user.id, user.email_normalized)) {
        log?.info({ user: user.id }, 'verification link sign-in skipped: the organization requires SSO');
        return { signedIn: false };
      }
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
