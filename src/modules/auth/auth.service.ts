import type { RegionPlacement } from '../organizations/organizations.repository.js';
import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { HttpError } from '../../platform/http/http-errors.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { DeviceCookies } from './device-cookie.js';
import { createEmailVerification, type VerifyEmailResult } from './email-verification.js';
import { createLogin, type LoginDeps, type LoginResult } from './login.js';
import { createPasswordFlows } from './password-reset.js';
import { createPasswordHasher, type PasswordHasher } from './passwords.js';
import {
  createRegistration,
  type RegisteredUser,
  type RegisterInput,
  type RegisterOptions,
  type SignUpOutcome,
} from './register.js';
import type { Session, SessionMeta, SessionService } from './sessions.service.js';
import {
  clientAddress,
  createThrottle,
  LOGIN_THROTTLE_RULES,
  MAIL_THROTTLE_RULES,
  RECIPIENT_THROTTLE_RULES,
  recipientKey,
  SIGNUP_THROTTLE_RULES,
  type Throttle,
} from './throttle.js';
import { normalizeEmail } from './email-address.js';
import { updateProfile } from './profile.js';
import { startingOrganization } from './user-organizations.js';
import { liveSessionCredentials } from './sessions.repository.js';
import { findUserById, toPublicUser, type PublicUser } from './users.repository.js';

export interface AuthServiceDeps {
  /** Where personal organizations are created (DEFAULT_REGION's tenant database; unset: the control
   *  database). */
  readonly personalPlacement?: RegionPlacement;
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly sessions: SessionService;
  /** Base URL of the links in mails (PUBLIC_URL). */
  readonly publicUrl: string;
  /** Defaults to argon2id with OWASP's minimum parameters. */
  readonly hasher?: PasswordHasher;
  /**
   * Signs and checks the device cookies of password sign-in (`createDeviceCookies` with the KEK): a
   * browser that signed in to an account before is not refused by strangers' failures on it.
   */
  readonly devices: DeviceCookies;
  /**
   * Defaults to LOGIN_THROTTLE_RULES (per 15 min: 5 per account from one client address and 100 per
   * account from all addresses or, for a proven device, 5 per device and 50 across the account's devices
   * instead; 20 per client address; 5 per signed-in user).
   */
  readonly loginThrottle?: Throttle;
  /** Defaults to MAIL_THROTTLE_RULES. */
  readonly mailThrottle?: Throttle;
  /** Account creation per client address; defaults to SIGNUP_THROTTLE_RULES. */
  readonly signUpThrottle?: Throttle;
  /**
   * Mails per recipient address and kind; defaults to RECIPIENT_THROTTLE_RULES. Pass the instance the
   * invitations module counts in too, so invitation mails share the per-address accounting.
   */
  readonly recipientThrottle?: Throttle;
  readonly log?: Logger;
  /** require-SSO (src/modules/sso): the organization whose IdP this user must sign in through, if any. */
  readonly ssoRequiredFor?: LoginDeps['ssoRequiredFor'];
}

export interface AuthService {
  /** Creates a user (with or without a personal organization); see `createRegistration`. */
  registerUser(input: RegisterInput, opts: RegisterOptions): Promise<RegisteredUser>;
  /**
   * Self sign-up, throttled per client address and per target address (429 AUTH_THROTTLED). A new address
   * gets the account, its Personal Organization and a verification mail; a taken one a mail telling its
   * owner. No session either way: following the verification link signs the new user in.
   */
  signUp(input: RegisterInput, meta: { ip: string }): Promise<SignUpOutcome>;
  /** Counts an account creation against the client address (register-and-accept); 429 when used up. */
  limitAccountCreation(ip: string): void;
  /**
   * Whether an organization requires SSO of this user (docs/sso.md "Require SSO"): a session for them
   * starts only through its IdP, so a flow that would sign them in otherwise (register-and-accept of an
   * invitation) does not.
   */
  ssoRequiredForUser(userId: string): Promise<boolean>;
  /** Password login (throttled; a new session every time; `deviceCookie` is the `sr_device` presented). */
  login(
    input: { email: string; password: string },
    meta: SessionMeta & { ip: string; presentedToken?: string | null; deviceCookie?: string | null },
  ): Promise<LoginResult>;
  /**
   * A new device cookie value (`sr_device`, a new device id) for the browser of a session whose sign-in
   * just became complete by its second factor (TOTP, recovery code or passkey), or that just changed the
   * account's credentials itself (a password change, a two-factor enrollment): a password alone never
   * earns one. Bound to the user's credentials generation as read together with the session still being
   * live; null (no cookie) once the session ended, e.g. revoked by another credential change.
   */
  issueDeviceCookie(sessionId: string): Promise<string | null>;
  /**
   * The signed-in user and the organization their session acts in. When the session's organization is no
   * longer one the user is an ACTIVE member of, the session falls back to another (as sign-in picks one)
   * or to none, and says so.
   */
  me(who: {
    userId: string;
    sessionId: string | null;
    /** The session's RAW token (the proof of the user for the membership lookup). */
    sessionToken?: string;
  }): Promise<{ user: PublicUser; currentOrganizationId: string | null }>;
  /**
   * Sets (a string) or clears (null) the user's display name, trimmed and checked (400
   * VALIDATION_FAILED naming `body.name`); answers what {@link AuthService.me} answers afterwards.
   */
  updateProfile(
    who: Parameters<AuthService['me']>[0],
    input: { name: string | null },
  ): Promise<{ user: PublicUser; currentOrganizationId: string | null }>;
  /**
   * Consumes a verification link; the first one ends every earlier session and token of the user. With
   * `signIn` also signs the verifier in, unless `presentedUserId` names a live session it did not end,
   * or the browser is neither the one that signed up (`fromSignUpBrowser`) nor signed in as this user.
   */
  verifyEmail(
    token: string,
    signIn: (SessionMeta & { ip: string }) | null,
    presentedUserId?: string | null,
    fromSignUpBrowser?: boolean,
  ): Promise<VerifyEmailResult>;
  /** Mails a new verification link to the signed-in user. */
  resendVerification(userId: string, meta: { ip: string }): Promise<void>;
  /** Mails a reset link if the address has an account (same answer either way). */
  requestPasswordReset(email: string, meta: { ip: string }): Promise<void>;
  /** Sets a new password with a reset link; revokes every session and refresh token. */
  confirmPasswordReset(token: string, password: string): Promise<void>;
  /** Changes the password (current one required); rotates this session, revokes the others. */
  changePassword(
    who: { userId: string; sessionId: string | null; ip: string },
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ token: string; session: Session } | null>;
}

/** Identity: sign-up, login, email verification, password reset and change, on top of the session service. */
export function createAuthService(deps: AuthServiceDeps): AuthService {
  const hasher = deps.hasher ?? createPasswordHasher();
  const loginThrottle = deps.loginThrottle ?? createThrottle('auth.login', LOGIN_THROTTLE_RULES);
  const mailThrottle = deps.mailThrottle ?? createThrottle('auth.mail', MAIL_THROTTLE_RULES);
  const signUpThrottle = deps.signUpThrottle ?? createThrottle('auth.signup', SIGNUP_THROTTLE_RULES);
  const recipientThrottle =
    deps.recipientThrottle ?? createThrottle('auth.recipient', RECIPIENT_THROTTLE_RULES);
  const publicUrl = deps.publicUrl.replace(/\/+$/, '');
  const { db, sessions, log } = deps;

  const registration = createRegistration({
    db,
    withTenant: deps.withTenant,
    hasher,
    publicUrl,
    log,
    ...(deps.personalPlacement ? { personalPlacement: deps.personalPlacement } : {}),
  });
  const { registerUser } = registration;
  const { login } = createLogin({
    db,
    sessions,
    hasher,
    throttle: loginThrottle,
    devices: deps.devices,
    log,
    ...(deps.ssoRequiredFor ? { ssoRequiredFor: deps.ssoRequiredFor } : {}),
  });
  const verification = createEmailVerification({
    db,
    sessions,
    publicUrl,
    mailThrottle,
    recipientThrottle,
    log,
    ...(deps.ssoRequiredFor ? { ssoRequiredFor: deps.ssoRequiredFor } : {}),
  });
  const passwords = createPasswordFlows({
    db,
    sessions,
    hasher,
    publicUrl,
    loginThrottle,
    mailThrottle,
    recipientThrottle,
    log,
  });

  const service: AuthService = {
    registerUser,
    async signUp(input, meta) {
      signUpThrottle.acquire([clientAddress(meta.ip)]);
      recipientThrottle.acquire([recipientKey('signup', normalizeEmail(input.email))]);
      return registration.signUp(input);
    },
    limitAccountCreation(ip) {
      signUpThrottle.acquire([clientAddress(ip)]);
    },
    async ssoRequiredForUser(userId) {
      if (!deps.ssoRequiredFor) return false;
      const user = await findUserById(db, userId);
      return user ? (await deps.ssoRequiredFor(user.id, user.email_normalized)) !== null : false;
    },
    login,
    async issueDeviceCookie(sessionId) {
      const live = await liveSessionCredentials(db, sessionId);
      return live ? deps.devices.issue(live.user_id, live.credentials_changed_at) : null;
    },
    async me(who) {
      const user = await findUserById(db, who.userId);
      if (!user) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
      let currentOrganizationId: string | null = null;
      if (who.sessionId) {
        const row = await db
          .selectFrom('sessions')
          .select(['current_organization_id'])
          .where('id', '=', who.sessionId)
          .where('user_id', '=', who.userId)
          .executeTakeFirst();
        currentOrganizationId = row?.current_organization_id ?? null;
        if (row && currentOrganizationId !== null && who.sessionToken) {
          const fallback = await startingOrganization(
            db,
            { id: user.id, last_organization_id: currentOrganizationId },
            who.sessionToken,
            log,
          );
          if (fallback !== currentOrganizationId) {
            // The user left (or lost) the session's organization: act in another one from now on.
            await db
              .updateTable('sessions')
              .set({ current_organization_id: fallback })
              .where('id', '=', who.sessionId)
              .where('user_id', '=', who.userId)
              .execute();
            sessions.userChanged(user.id);
            currentOrganizationId = fallback;
          }
        }
      }
      return { user: toPublicUser(user), currentOrganizationId };
    },
    async updateProfile(who, input) {
      await updateProfile(db, who.userId, input);
      return service.me(who);
    },
    verifyEmail: (token, signIn, presentedUserId, fromSignUpBrowser) =>
      verification.verifyEmail(token, signIn, presentedUserId ?? null, fromSignUpBrowser ?? false),
    resendVerification: (userId, meta) => verification.resendVerification(userId, meta),
    requestPasswordReset: (email, meta) => passwords.requestPasswordReset(email, meta),
    confirmPasswordReset: (token, password) => passwords.confirmPasswordReset(token, password),
    changePassword: (who, input) => passwords.changePassword(who, input),
  };
  return service;
}
