import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { AuthError, invalidCredentials } from './auth.errors.js';
import { normalizeEmail } from './email-address.js';
import type { PasswordHasher } from './passwords.js';
import type { Session, SessionMeta, SessionService } from './sessions.service.js';
import type { DeviceCookies } from './device-cookie.js';
import { accountAttemptKeys, clientAddress, deviceAttemptKeys, type Throttle } from './throttle.js';
import { startSessionInStartingOrganization } from './user-organizations.js';
import { findUserByEmail, setPasswordHash, toPublicUser, type PublicUser } from './users.repository.js';

/** The user id a device cookie is checked against when the address has no account (none matches it). */
const NO_USER = '00000000-0000-0000-0000-000000000000';
/** The credentials generation a device cookie is checked against then. */
const NO_GENERATION = new Date(0);

export interface LoginDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  readonly hasher: PasswordHasher;
  /** Rules `account`, `accountTotal`, `device`, `accountDevices` and `ip` (see LOGIN_THROTTLE_RULES). */
  readonly throttle: Throttle;
  /**
   * Device cookies: issued on a complete sign-in (a password success without a second factor to prove),
   * checked on every attempt (device-cookie.ts).
   */
  readonly devices: DeviceCookies;
  readonly log?: Logger;
  /**
   * require-SSO: the organization that verified the address's domain, requires SSO and has this user as
   * an active member other than an owner (owners keep the password: the break-glass path). Such a
   * password sign-in is refused with SSO_REQUIRED after the password was checked.
   */
  readonly ssoRequiredFor?: (userId: string, email: string) => Promise<{ slug: string } | null>;
}

export type LoginResult = (
  | { token: string; session: Session; twoFactorRequired: true }
  | {
      token: string;
      session: Session;
      twoFactorRequired: false;
      user: PublicUser;
      currentOrganizationId: string | null;
    }
) & {
  /**
   * The device cookie's new value (`sr_device`): the browser completed a sign-in to this account. Null
   * while a second factor is pending (the route that proves it issues one: `AuthService.issueDeviceCookie`).
   */
  deviceCookie: string | null;
};

/**
 * Password login. Unknown email and wrong password get the same error after the same work (an unknown
 * account is verified against a dummy argon2 hash). Attempts are throttled after the account lookup and
 * before any password verification: per account from this client address, per account from all addresses
 * (a much higher budget), and per client address (LOGIN_THROTTLE_RULES); a browser presenting a valid
 * device cookie of the account is held to its device's budgets instead of the account-wide one and the
 * per-account-and-address one (device-cookie.ts). A complete sign-in (no second factor to prove) issues
 * the device cookie anew (the same device id for a proven device); with one to prove, none is issued
 * here. Success starts a NEW session (a fresh token every login; a session the request still presented is revoked), in
 * the user's last organization if still an active member there, else their first one. With TOTP enabled
 * the session waits for the second factor. The session (pending or complete) is created only while the
 * account's `credentials_changed_at` is still the value read with the hash that was checked, atomically
 * (sessions.repository.ts `insertSession`): a sign-in with the old password that raced a password change
 * or reset is refused as invalid credentials, never left with a session the change's revocation missed.
 */
export function createLogin(deps: LoginDeps) {
  const { db, sessions, hasher, throttle, devices, log } = deps;

  async function login(
    input: { email: string; password: string },
    meta: SessionMeta & { ip: string; presentedToken?: string | null; deviceCookie?: string | null },
  ): Promise<LoginResult> {
    const normalized = normalizeEmail(input.email);
    // Looked up first (the same query whether the address has an account or not): an existing account's
    // counters are held out of a flood's reach, and a device cookie proves a browser for one account only.
    const user = await findUserByEmail(db, normalized);
    const account = accountAttemptKeys(normalized, meta.ip, { exists: user !== undefined });
    const address = clientAddress(meta.ip);
    // Checked for every attempt (against a nil id when there is no account), so the work is the same. A
    // cookie earned before the account's last credential change (a password change or reset…) proves
    // nothing: it carries an earlier credentials generation.
    const device = devices.verify(
      meta.deviceCookie,
      user?.id ?? NO_USER,
      user?.credentials_changed_at ?? NO_GENERATION,
    );
    const proven = user && device ? deviceAttemptKeys(user.id, device.deviceId) : null;
    // A proven device spends its own budgets, not the account-wide one strangers can spend, nor the
    // per-account-and-address one anyone behind the owner's (shared, NAT) address can spend.
    const spent = proven ? [proven.device, proven.allDevices] : [account.fromAddress, account.total];
    throttle.acquire([...spent, address]);

    const ok = user?.password_hash
      ? await hasher.verify(user.password_hash, input.password)
      : await hasher.verifyDummy(input.password);
    if (!user || !ok) {
      log?.info({ login: 'failed', ip: meta.ip }, 'login failed');
      throw invalidCredentials();
    }
    if (proven) throttle.release([address, ...spent]);
    else {
      throttle.release([address, account.total]);
      throttle.reset(account.fromAddress);
    }
    const sso = await deps.ssoRequiredFor?.(user.id, normalized);
    if (sso) {
      log?.info({ user: user.id }, 'password login refused: the organization requires SSO');
      throw new AuthError('SSO_REQUIRED', 'your organization requires single sign-on: continue with SSO', {
        details: { discover: '/v1/auth/sso/discover', organization: sso.slug },
      });
    }

    if (user.password_hash && hasher.needsRehash(user.password_hash)) {
      // Only over the hash that was checked: a change committed meanwhile is not undone by the old password.
      await setPasswordHash(db, user.id, await hasher.hash(input.password), {
        credentialsChanged: false,
        replacing: user.password_hash,
      });
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
      // The credentials this sign-in read with the hash it checked: no session if they changed since
      // (a password change or reset that committed after that read would otherwise miss this session).
      { credentialsChangedAt: user.credentials_changed_at },
    );
    log?.info({ user: user.id, session_id: session.id, known_device: device !== null }, 'login succeeded');
    // Only once the sign-in is complete: with a second factor to prove, the route that proves it issues
    // one (a password alone must not mint cookies that spend `accountDevices`).
    if (user.totp_enabled_at !== null) {
      return { token, session, twoFactorRequired: true, deviceCookie: null };
    }
    // Bound to the credentials generation the sign-in read (and its guarded session proved current).
    const deviceCookie = devices.issue(user.id, user.credentials_changed_at, device?.deviceId);
    return {
      token,
      session,
      twoFactorRequired: false,
      user: toPublicUser(user),
      currentOrganizationId,
      deviceCookie,
    };
  }

  return { login };
}
