import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { HttpError } from '../../platform/http/http-errors.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { createEmailVerification } from './email-verification.js';
import { createLogin, type LoginResult } from './login.js';
import { createPasswordFlows } from './password-reset.js';
import { createPasswordHasher, type PasswordHasher } from './passwords.js';
import type { PersonalOrganization } from './personal-organization.js';
import {
  createRegistration,
  type RegisteredUser,
  type RegisterInput,
  type RegisterOptions,
} from './register.js';
import type { Session, SessionMeta, SessionService } from './sessions.service.js';
import { createThrottle, LOGIN_THROTTLE_RULES, MAIL_THROTTLE_RULES, type Throttle } from './throttle.js';
import { findUserById, toPublicUser, type PublicUser } from './users.repository.js';

export interface AuthServiceDeps {
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly sessions: SessionService;
  /** Base URL of the links in mails (PUBLIC_URL). */
  readonly publicUrl: string;
  /** Defaults to argon2id with OWASP's minimum parameters. */
  readonly hasher?: PasswordHasher;
  /** Defaults to LOGIN_THROTTLE_RULES (5 per account, 20 per address, per 15 min). */
  readonly loginThrottle?: Throttle;
  /** Defaults to MAIL_THROTTLE_RULES. */
  readonly mailThrottle?: Throttle;
  readonly log?: Logger;
}

export interface AuthService {
  /** Creates a user (with or without a personal organization); see `createRegistration`. */
  registerUser(input: RegisterInput, opts: RegisterOptions): Promise<RegisteredUser>;
  /** Self sign-up: the user, their personal organization, and a session in it. */
  signUp(
    input: RegisterInput,
    meta: SessionMeta,
  ): Promise<{ token: string; session: Session; user: PublicUser; organization: PersonalOrganization }>;
  /** Password login (throttled; a new session every time). */
  login(
    input: { email: string; password: string },
    meta: SessionMeta & { ip: string; presentedToken?: string | null },
  ): Promise<LoginResult>;
  /** The signed-in user and the organization their session acts in. */
  me(who: {
    userId: string;
    sessionId: string | null;
  }): Promise<{ user: PublicUser; currentOrganizationId: string | null }>;
  /** Consumes a verification link. */
  verifyEmail(token: string): Promise<void>;
  /** Mails a new verification link to the signed-in user. */
  resendVerification(userId: string): Promise<void>;
  /** Mails a reset link if the address has an account (same answer either way). */
  requestPasswordReset(email: string, meta: { ip: string }): Promise<void>;
  /** Sets a new password with a reset link; revokes every session and refresh token. */
  confirmPasswordReset(token: string, password: string): Promise<void>;
  /** Changes the password (current one required); rotates this session, revokes the others. */
  changePassword(
    who: { userId: string; sessionId: string | null },
    input: { currentPassword: string; newPassword: string },
  ): Promise<{ token: string; session: Session } | null>;
}

/** Identity: sign-up, login, email verification, password reset and change, on top of the session service. */
export function createAuthService(deps: AuthServiceDeps): AuthService {
  const hasher = deps.hasher ?? createPasswordHasher();
  const loginThrottle = deps.loginThrottle ?? createThrottle('auth.login', LOGIN_THROTTLE_RULES);
  const mailThrottle = deps.mailThrottle ?? createThrottle('auth.mail', MAIL_THROTTLE_RULES);
  const publicUrl = deps.publicUrl.replace(/\/+$/, '');
  const { db, sessions, log } = deps;

  const { registerUser } = createRegistration({ db, withTenant: deps.withTenant, hasher, publicUrl, log });
  const { login } = createLogin({ db, sessions, hasher, throttle: loginThrottle, log });
  const verification = createEmailVerification({ db, sessions, publicUrl, mailThrottle });
  const passwords = createPasswordFlows({
    db,
    sessions,
    hasher,
    publicUrl,
    loginThrottle,
    mailThrottle,
    log,
  });

  return {
    registerUser,
    async signUp(input, meta) {
      const { user, organization } = await registerUser(input, { createPersonalOrganization: true });
      if (!organization) throw new Error('sign-up created no personal organization');
      const { token, session } = await sessions.create(user.id, meta, {
        currentOrganizationId: organization.id,
      });
      return { token, session, user, organization };
    },
    login,
    async me(who) {
      const user = await findUserById(db, who.userId);
      if (!user) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
      let currentOrganizationId: string | null = null;
      if (who.sessionId) {
        const row = await db
          .selectFrom('sessions')
          .select('current_organization_id')
          .where('id', '=', who.sessionId)
          .where('user_id', '=', who.userId)
          .executeTakeFirst();
        currentOrganizationId = row?.current_organization_id ?? null;
      }
      return { user: toPublicUser(user), currentOrganizationId };
    },
    verifyEmail: (token) => verification.verifyEmail(token),
    resendVerification: (userId) => verification.resendVerification(userId),
    requestPasswordReset: (email, meta) => passwords.requestPasswordReset(email, meta),
    confirmPasswordReset: (token, password) => passwords.confirmPasswordReset(token, password),
    changePassword: (who, input) => passwords.changePassword(who, input),
  };
}
