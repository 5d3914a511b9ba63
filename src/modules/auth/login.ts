import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { AuthError, invalidCredentials } from './auth.errors.js';
import { normalizeEmail } from './email-address.js';
import type { PasswordHasher } from './passwords.js';
import type { Session, SessionMeta, SessionService } from './sessions.service.js';
import { accountAttemptKeys, clientAddress, type Throttle } from './throttle.js';
import { startSessionInStartingOrganization } from './user-organizations.js';
import { findUserByEmail, setPasswordHash, toPublicUser, type PublicUser } from './users.repository.js';

export interface LoginDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  readonly hasher: PasswordHasher;
  /** Rules `account`, `accountTotal` and `ip` (see LOGIN_THROTTLE_RULES). */
  readonly throttle: Throttle;
  readonly log?: Logger;
  /**
   * require-SSO: the organization that verified the address's domain, requires SSO and has this user as
   * an active member other than an owner (owners keep the password: the break-glass path). Such a
   * password sign-in is refused with SSO_REQUIRED after the password was checked.
   */
  readonly ssoRequiredFor?: (userId: string, email: string) => Promise<{ slug: string } | null>;
}

export type LoginResult =
  | { token: string; session: Session; twoFactorRequired: true }
  | {
      token: string;
      session: Session;
      twoFactorRequired: false;
      user: PublicUser;
      currentOrganizationId: string | null;
    };

/**
 * Password login. Unknown email and wrong password get the same error after the same work (an unknown
 * account is verified against a dummy argon2 hash). Attempts are throttled before any verification: per
 * account from this client address, per account from all addresses (a much higher budget), and per
 * client address (LOGIN_THROTTLE_RULES). Success starts a NEW session (a fresh token every login; a session the
 * request still presented is revoked), in the user's last organization if still an active member there,
 * else their first one. With TOTP enabled the session waits for the second factor.
 */
export function createLogin(deps: LoginDeps) {
  const { db, sessions, hasher, throttle, log } = deps;

  async function login(
    input: { email: string; password: string },
    meta: SessionMeta & { ip: string; presentedToken?: string | null },
  ): Promise<LoginResult> {
    const normalized = normalizeEmail(input.email);
    const account = accountAttemptKeys(normalized, meta.ip);
    const address = clientAddress(meta.ip);
    throttle.acquire([account.fromAddress, account.total, address]);

    const user = await findUserByEmail(db, normalized);
    const ok = user?.password_hash
      ? await hasher.verify(user.password_hash, input.password)
      : await hasher.verifyDummy(input.password);
    if (!user || !ok) {
      log?.info({ login: 'failed', ip: meta.ip }, 'login failed');
      throw invalidCredentials();
    }
    throttle.release([address, account.total]);
    throttle.reset(account.fromAddress);
    const sso = await deps.ssoRequiredFor?.(user.id, normalized);
    if (sso) {
      log?.info({ user: user.id }, 'password login refused: the organization requires SSO');
      throw new AuthError('SSO_REQUIRED', 'your organization requires single sign-on: continue with SSO', {
        details: { discover: '/v1/auth/sso/discover', organization: sso.slug },
      });
    }

    if (user.password_hash && hasher.needsRehash(user.password_hash)) {
      await setPasswordHash(db, user.id, await hasher.hash(input.password), { credentialsChanged: false });
    }
    if (meta.presentedToken) {
      const previous = await sessions.resolve(meta.presentedToken);
      if (previous) await sessions.revoke(previous.session.id);
    }
    const { token, session, currentOrganizationId } = await startSessionInStartingOrganization(
      db,
      sessions,
      user,
      meta,
      log,
    );
    log?.info({ user: user.id, session_id: session.id }, 'login succeeded');
    if (user.totp_enabled_at !== null) return { token, session, twoFactorRequired: true };
    return { token, session, twoFactorRequired: false, user: toPublicUser(user), currentOrganizationId };
  }

  return { login };
}
