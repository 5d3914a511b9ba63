import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransportFuture,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { lazyImport } from '../../platform/lazy-import.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { uuidv7 } from '../../platform/ids.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import { isTenantId as isUuid } from '../../platform/tenancy/context.js';
import type { Session, SessionMeta, SessionService } from '../auth/sessions.types.js';
import { clientAddress, type Throttle } from '../auth/throttle.js';
import { startSessionInStartingOrganization } from '../auth/user-organizations.js';
import { findUserById, toPublicUser, type PublicUser } from '../auth/users.repository.js';
import { passkeyNotFound, PasskeyError, registrationInvalid, signInFailed } from './passkeys.errors.js';
import * as repo from './passkeys.repository.js';
import { ssoRequired, type SsoRequiredFor } from '../sso/sso.errors.js';

/** The WebAuthn library loads with the first passkey ceremony. */
const webauthn = lazyImport(() => import('@simplewebauthn/server'));

/** A passkey as the account page shows it (never its public key or counter). */
export interface Passkey {
  id: string;
  name: string;
  deviceType: 'singleDevice' | 'multiDevice';
  backedUp: boolean;
  transports: string[];
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** The signed-in browser session a ceremony belongs to. */
export interface SessionPrincipal {
  userId: string;
  sessionId: string;
}

export interface PasskeySignIn {
  token: string;
  session: Session;
  user: PublicUser;
  currentOrganizationId: string | null;
}

export interface PasskeysDeps {
  readonly db: PlatformDb;
  readonly sessions: SessionService;
  /** The relying party id: the public URL's host name. */
  readonly rpId: string;
  /** Shown by the authenticator when a passkey is created. */
  readonly rpName: string;
  /** Origins a ceremony may come from (the CSRF check's allowed origins). */
  readonly origins: readonly string[];
  /** Rules `ip` (sign-in, per client address) and `account` (second factor, per user) of LOGIN_THROTTLE_RULES. */
  readonly throttle: Throttle;
  /** Sign-in options per client address (rule `ip`): each one stores a challenge. */
  readonly optionsThrottle: Throttle;
  /** How long a challenge lives (default 5 minutes). */
  readonly challengeTtlMs?: number;
  readonly now?: () => number;
  /** require-SSO (docs/sso.md): passwordless sign-in of a member of an organization requiring SSO. */
  readonly ssoRequiredFor?: SsoRequiredFor;
  readonly log?: Logger;
}

const NAME_MAX = 100;
const SIGN_IN_HANDLE_BYTES = 32;

const toPasskey = (r: repo.CredentialRow): Passkey => ({
  id: r.id,
  name: r.name,
  deviceType: r.device_type,
  backedUp: r.backed_up,
  transports: r.transports,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});

/** A name as stored: trimmed, control characters refused, 1–100 characters. */
function cleanName(name: string): string {
  const trimmed = name.trim();
  // eslint-disable-next-line no-control-regex
  if (trimmed.length === 0 || trimmed.length > NAME_MAX || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new PasskeyError('PASSKEY_INVALID', `a passkey name is 1 to ${NAME_MAX} printable characters`);
  }
  return trimmed;
}

/** WebAuthn passkeys: registration, passwordless sign-in and the second factor (see README.md). */
export function createPasskeysService(deps: PasskeysDeps) {
  const { db, sessions, rpId, throttle, log } = deps;
  const origins = [...deps.origins];
  const now = deps.now ?? Date.now;
  const ttl = deps.challengeTtlMs ?? 5 * 60_000;
  const expiry = () => new Date(now() + ttl);
  const timeout = ttl;

  /**
   * Checks an assertion against a stored credential and records its use. A signature counter that did
   * not move forward (a cloned authenticator, or a replayed assertion) is refused and logged.
   */
  async function assert(
    cred: repo.CredentialRow,
    response: AuthenticationResponseJSON,
    challenge: string,
    requireUserVerification: boolean,
  ): Promise<{ userVerified: boolean }> {
    let info;
    try {
      const out = await (
        await webauthn()
      ).verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origins,
        expectedRPID: rpId,
        // Counter 0: the library's own counter check is replaced by the conditional update below.
        credential: { id: cred.credential_id, publicKey: new Uint8Array(cred.public_key), counter: 0 },
        requireUserVerification,
      });
      if (!out.verified) throw signInFailed();
      info = out.authenticationInfo;
    } catch (err) {
      if (err instanceof PasskeyError) throw err;
      // The library's message can quote the challenge or the origin: not logged.
      log?.info({ passkey: 'assertion_refused', user: cred.user_id }, 'passkey assertion refused');
      throw signInFailed();
    }
    const stored = Number(cred.counter);
    if ((stored > 0 || info.newCounter > 0) && info.newCounter <= stored) {
      log?.warn(
        {
          passkey: 'counter_regression',
          user: cred.user_id,
          passkey_id: cred.id,
          stored,
          presented: info.newCounter,
        },
        'passkey signature counter did not increase: refused (possible cloned authenticator)',
      );
      throw signInFailed();
    }
    const recorded = await repo.recordUse(db, cred.id, cred.counter, info.newCounter, {
      backedUp: info.credentialBackedUp,
    });
    if (!recorded) throw signInFailed();
    return { userVerified: info.userVerified };
  }

  return {
    /** Options for `navigator.credentials.create`, bound to the session (discoverable credential). */
    async registrationOptions(who: SessionPrincipal): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const user = await findUserById(db, who.userId);
      if (!user) throw passkeyNotFound();
      const existing = await repo.descriptorsOf(db, who.userId);
      const options = await (
        await webauthn()
      ).generateRegistrationOptions({
        rpName: deps.rpName,
        rpID: rpId,
        userName: user.email,
        userDisplayName: user.name ?? user.email,
        userID: new Uint8Array(Buffer.from(user.id.replace(/-/g, ''), 'hex')),
        timeout,
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({
          id: c.credential_id,
          transports: c.transports as AuthenticatorTransportFuture[],
        })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
      });
      await repo.putChallenge(db, {
        purpose: 'registration',
        binding: who.sessionId,
        userId: who.userId,
        challenge: options.challenge,
        expiresAt: expiry(),
      });
      return options;
    },

    /** Verifies the authenticator's answer to {@link registrationOptions} and stores the passkey. */
    async verifyRegistration(
      who: SessionPrincipal,
      input: { response: RegistrationResponseJSON; name: string },
    ): Promise<Passkey> {
      const name = cleanName(input.name);
      const pending = await repo.takeChallenge(db, 'registration', who.sessionId, new Date(now()));
      if (!pending || pending.userId !== who.userId) throw registrationInvalid();
      let info;
      try {
        const out = await (
          await webauthn()
        ).verifyRegistrationResponse({
          response: input.response,
          expectedChallenge: pending.challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserVerification: false,
        });
        if (!out.verified) throw registrationInvalid();
        info = out.registrationInfo;
      } catch {
        log?.info({ passkey: 'registration_refused', user: who.userId }, 'passkey registration refused');
        throw registrationInvalid();
      }
      const row = await repo.insertCredential(db, {
        id: uuidv7(),
        user_id: who.userId,
        credential_id: info.credential.id,
        public_key: Buffer.from(info.credential.publicKey),
        counter: info.credential.counter,
        transports: info.credential.transports ?? [],
        device_type: info.credentialDeviceType,
        backed_up: info.credentialBackedUp,
        name,
      });
      if (!row) {
        throw new PasskeyError('PASSKEY_ALREADY_REGISTERED', 'this passkey is already registered');
      }
      log?.info({ passkey: 'registered', user: who.userId, passkey_id: row.id }, 'passkey registered');
      return toPasskey(row);
    },

    /** The user's passkeys, oldest first. */
    async list(userId: string, opts: { limit?: number; cursor?: string } = {}): Promise<Page<Passkey>> {
      const limit = pageLimit(opts.limit);
      const after = decodeCursor(opts.cursor, isUuid);
      const rows = await repo.listForUser(db, userId, { after, limit: limit + 1 });
      return toPage(rows, limit, (r) => r.id, toPasskey);
    },

    async rename(userId: string, id: string, name: string): Promise<Passkey> {
      const clean = cleanName(name);
      const row = isUuid(id) ? await repo.renameCredential(db, userId, id, clean) : null;
      if (!row) throw passkeyNotFound();
      log?.info({ passkey: 'renamed', user: userId, passkey_id: id }, 'passkey renamed');
      return toPasskey(row);
    },

    async remove(userId: string, id: string): Promise<void> {
      if (!isUuid(id) || !(await repo.deleteCredential(db, userId, id))) throw passkeyNotFound();
      log?.info({ passkey: 'removed', user: userId, passkey_id: id }, 'passkey removed');
    },

    /**
     * Options for a passwordless sign-in (any discoverable credential of this relying party; user
     * verification required), and the random handle binding the challenge to this browser (its cookie).
     */
    async signInOptions(
      ip: string,
    ): Promise<{ options: PublicKeyCredentialRequestOptionsJSON; handle: string }> {
      deps.optionsThrottle.acquire([clientAddress(ip)]);
      const options = await (
        await webauthn()
      ).generateAuthenticationOptions({
        rpID: rpId,
        timeout,
        userVerification: 'required',
      });
      const handle = randomBytes(SIGN_IN_HANDLE_BYTES).toString('base64url');
      await repo.purgeExpiredChallenges(db, new Date(now()));
      await repo.putChallenge(db, {
        purpose: 'sign_in',
        binding: handle,
        userId: null,
        challenge: options.challenge,
        expiresAt: expiry(),
      });
      return { options, handle };
    },

    /**
     * Passwordless sign-in: the assertion must answer this browser's challenge, with user verification.
     * Starts a NEW session, as login does (the presented one is revoked), in the starting organization,
     * with both factors done. Throttled per client address only (see below).
     */
    async verifySignIn(
      handle: string | null,
      response: AuthenticationResponseJSON,
      meta: SessionMeta & { ip: string; presentedToken?: string | null },
    ): Promise<PasskeySignIn> {
      // Per client address only, never per account: a signature cannot be guessed, so a per-account count
      // would protect nothing, while anyone holding one of the user's credential ids (no secret) could
      // spend an account-wide one from many addresses and shut the owner out, or, per account and
      // address, grow the throttle's never-evicted store of existing accounts' counters (review 7).
      const address = clientAddress(meta.ip);
      throttle.acquire([address]);
      const pending = handle ? await repo.takeChallenge(db, 'sign_in', handle, new Date(now())) : null;
      if (!pending) throw signInFailed();
      const cred = await repo.findByCredentialId(db, response.id);
      if (!cred) {
        log?.info({ passkey: 'sign_in_failed', ip: meta.ip }, 'passkey sign-in with an unknown credential');
        throw signInFailed();
      }
      const handleOf = response.response.userHandle;
      const expectedHandle = Buffer.from(cred.user_id.replace(/-/g, ''), 'hex').toString('base64url');
      if (handleOf && handleOf !== expectedHandle) throw signInFailed();
      await assert(cred, response, pending.challenge, true);
      const user = await findUserById(db, cred.user_id);
      if (!user || user.erased_at) throw signInFailed();
      throttle.release([address]);
      const sso = await deps.ssoRequiredFor?.(user.id, user.email_normalized);
      if (sso) {
        log?.info({ passkey: 'sign_in_refused', user: user.id }, 'passkey sign-in refused: SSO required');
        throw ssoRequired(sso.slug);
      }

      if (meta.presentedToken) {
        const previous = await sessions.resolve(meta.presentedToken);
        if (previous) await sessions.revoke(previous.session.id);
      }
      const started = await startSessionInStartingOrganization(db, sessions, user, meta, log, {
        twoFactorVerified: true,
      });
      log?.info(
        { passkey: 'signed_in', user: user.id, passkey_id: cred.id, session_id: started.session.id },
        'passkey sign-in succeeded',
      );
      return { ...started, user: toPublicUser(user) };
    },

    /** Options for the second factor of this session: the user's own passkeys, verification preferred. */
    async secondFactorOptions(who: SessionPrincipal): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const creds = await repo.descriptorsOf(db, who.userId);
      if (creds.length === 0) {
        throw new PasskeyError('PASSKEY_NOT_FOUND', 'this account has no passkey: use a code instead');
      }
      const options = await (
        await webauthn()
      ).generateAuthenticationOptions({
        rpID: rpId,
        timeout,
        userVerification: 'preferred',
        allowCredentials: creds.map((c) => ({
          id: c.credential_id,
          transports: c.transports as AuthenticatorTransportFuture[],
        })),
      });
      await repo.putChallenge(db, {
        purpose: 'second_factor',
        binding: who.sessionId,
        userId: who.userId,
        challenge: options.challenge,
        expiresAt: expiry(),
      });
      return options;
    },

    /**
     * The second factor by passkey: an assertion of one of THIS user's passkeys answering this session's
     * challenge. The caller then marks the session verified (which rotates its token).
     */
    async verifySecondFactor(who: SessionPrincipal, response: AuthenticationResponseJSON): Promise<void> {
      const account = { kind: 'account', value: who.userId };
      throttle.acquire([account]);
      const pending = await repo.takeChallenge(db, 'second_factor', who.sessionId, new Date(now()));
      if (!pending || pending.userId !== who.userId) throw signInFailed();
      const cred = await repo.findByCredentialId(db, response.id);
      if (!cred || cred.user_id !== who.userId) {
        log?.info({ passkey: 'second_factor_failed', user: who.userId }, 'passkey of another user refused');
        throw signInFailed();
      }
      await assert(cred, response, pending.challenge, false);
      throttle.reset(account);
      log?.info(
        { passkey: 'second_factor', user: who.userId, passkey_id: cred.id },
        'second factor by passkey',
      );
    },
  };
}

export type PasskeysService = ReturnType<typeof createPasskeysService>;
