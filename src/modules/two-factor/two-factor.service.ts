import { randomBytes } from 'node:crypto';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { createSecretBox } from '../../platform/crypto/secret-box.js';
import { lazyImport } from '../../platform/lazy-import.js';
import { isTenantId as isUuid } from '../../platform/tenancy/context.js';
import { base32Encode } from './base32.js';
import { generateRecoveryCodes, hashRecoveryCode } from './recovery-codes.js';
import { createCodeThrottle, type CodeThrottle } from './throttle.js';
import { looksLikeTotp, matchTotpStep, TOTP_DIGITS, TOTP_PERIOD_SECONDS } from './totp.js';
import * as repo from './two-factor.repository.js';
import { codeInvalid, notEnabled, TwoFactorError } from './two-factor.errors.js';

/** The QR code encoder loads with the first enrolment. */
const qrcode = lazyImport(() => import('qrcode'));

/** What a user needs to add the account to an authenticator app. Shown once; never logged. */
export interface TwoFactorEnrollment {
  /** The base32 secret, for typing in by hand. */
  secret: string;
  otpauthUri: string;
  /** The otpauth URI as a QR code (SVG markup). */
  qrSvg: string;
}

export interface TwoFactorVerification {
  method: 'totp' | 'recovery_code';
  /** Unused recovery codes left (so a client can warn when few remain). */
  recoveryCodesRemaining: number;
}

export interface TwoFactorService {
  /**
   * Starts (or restarts) enrollment: a new random secret (20 bytes) is stored encrypted as pending and
   * returned with its otpauth URI and QR code. Nothing changes for sign-in until it is confirmed.
   * `email` labels the account in the app; it defaults to the user's stored email.
   * @throws TWO_FACTOR_ALREADY_ENABLED (409) when two-factor authentication is already on.
   */
  beginEnrollment(userId: string, email?: string): Promise<TwoFactorEnrollment>;
  /**
   * Confirms enrollment with a code from the app: the pending secret becomes active, the credentials
   * change time moves, and 10 recovery codes are generated and returned (the only time they are shown).
   * @throws TWO_FACTOR_CODE_INVALID (400), TWO_FACTOR_THROTTLED (429), TWO_FACTOR_ALREADY_ENABLED,
   *   TWO_FACTOR_ENROLLMENT_NOT_STARTED (409)
   */
  confirmEnrollment(userId: string, code: string): Promise<{ recoveryCodes: string[] }>;
  /**
   * Checks a second factor: a TOTP code (a time step is accepted once) or an unused recovery code
   * (then used up).
   * @throws TWO_FACTOR_CODE_INVALID, TWO_FACTOR_THROTTLED, TWO_FACTOR_NOT_ENABLED
   */
  verify(userId: string, code: string): Promise<TwoFactorVerification>;
  /**
   * Turns two-factor authentication off after a valid code: removes the secret and the recovery codes,
   * and, in the same transaction, ends every other session of the user (`keepSessionId`: the caller's,
   * null for none) and every refresh-token family (their access tokens are refused from the next request
   * on, once `onChanged` has dropped the cached state).
   * @throws TWO_FACTOR_CODE_INVALID, TWO_FACTOR_THROTTLED, TWO_FACTOR_NOT_ENABLED
   */
  disable(userId: string, code: string, opts: { keepSessionId: string | null }): Promise<void>;
  /**
   * Replaces every recovery code with 10 new ones after a valid code, and returns them (shown once).
   * @throws TWO_FACTOR_CODE_INVALID, TWO_FACTOR_THROTTLED, TWO_FACTOR_NOT_ENABLED
   */
  regenerateRecoveryCodes(userId: string, code: string): Promise<{ recoveryCodes: string[] }>;
  /** True when the user has confirmed two-factor authentication. */
  isEnabled(userId: string): Promise<boolean>;
}

export interface TwoFactorDeps {
  readonly db: PlatformDb;
  /** The key-encryption key (`Secrets['kek']`, 32 bytes). */
  readonly kek: Buffer;
  /** Earlier KEKs (KEK_PREVIOUS): secrets sealed before a KEK rotation still open. */
  readonly previousKeks?: readonly Buffer[];
  /** Shown in authenticator apps, e.g. `SaaSReady`. */
  readonly issuer: string;
  /** Clock in milliseconds (tests); defaults to `Date.now`. */
  readonly now?: () => number;
  /** The failure throttle; defaults to 5 failures per user per 5 minutes. */
  readonly throttle?: CodeThrottle;
  /**
   * Called after two-factor authentication was turned on or off for a user (e.g. to drop cached sessions,
   * so the user's other sessions start asking for the second factor at once).
   */
  readonly onChanged?: (userId: string) => void;
}

const SECRET_BYTES = 20;
// Additional authenticated data: a sealed secret opens only for its own user and purpose.
const activeContext = (userId: string) => `users.totp_secret:${userId}`;
const pendingContext = (userId: string) => `users.totp_pending:${userId}`;

type Checked = { method: 'totp' | 'recovery_code' };

const alreadyEnabled = () =>
  new TwoFactorError('TWO_FACTOR_ALREADY_ENABLED', 'two-factor authentication is already enabled');

/** Two-factor authentication (TOTP, RFC 6238) with recovery codes, secrets sealed under the KEK. */
export function createTwoFactorService(deps: TwoFactorDeps): TwoFactorService {
  const { db, issuer } = deps;
  const box = createSecretBox(deps.kek, deps.previousKeks);
  const now = deps.now ?? Date.now;
  const throttle = deps.throttle ?? createCodeThrottle({ now });
  if (!issuer || issuer.includes(':')) throw new RangeError('issuer must be non-empty and contain no ":"');

  const stateOf = (x: repo.IdentityDb, userId: string) =>
    isUuid(userId) ? repo.findTwoFactorState(x, userId) : Promise.resolve(undefined);

  /** Loads an enabled user's state or throws TWO_FACTOR_NOT_ENABLED. */
  async function enabledState(x: repo.IdentityDb, userId: string) {
    const state = await stateOf(x, userId);
    if (!state?.totp_enabled_at || !state.totp_secret_enc) throw notEnabled();
    return { ...state, totp_secret_enc: state.totp_secret_enc };
  }

  /** Checks and consumes a TOTP step or a recovery code; null when the code is not (or no longer) valid. */
  async function consumeCode(
    x: repo.IdentityDb,
    state: repo.TwoFactorState & { totp_secret_enc: string },
    code: string,
  ): Promise<Checked | null> {
    if (looksLikeTotp(code)) {
      const secret = box.open(state.totp_secret_enc, activeContext(state.id));
      const last = state.totp_last_step === null ? null : Number(state.totp_last_step);
      const step = matchTotpStep(secret, code, now(), last);
      if (step === null || !(await repo.consumeTotpStep(x, state.id, step))) return null;
      return { method: 'totp' };
    }
    const hash = hashRecoveryCode(code);
    if (!hash || !(await repo.consumeRecoveryCode(x, state.id, hash))) return null;
    return { method: 'recovery_code' };
  }

  /** Issues fresh recovery codes in `x`, returning them in clear (their hashes are stored). */
  async function issueRecoveryCodes(x: repo.IdentityDb, userId: string): Promise<string[]> {
    const codes = generateRecoveryCodes();
    await repo.replaceRecoveryCodes(
      x,
      userId,
      codes.map((c) => hashRecoveryCode(c)!),
    );
    return codes;
  }

  /** Runs `action` in one transaction after a valid code, under the throttle. */
  async function withValidCode<T>(
    userId: string,
    code: string,
    action: (trx: repo.IdentityDb, checked: Checked) => Promise<T>,
  ): Promise<T> {
    const out = await throttle.attempt(userId, () =>
      db.transaction().execute(async (trx) => {
        const state = await enabledState(trx, userId);
        const checked = await consumeCode(trx, state, code);
        return checked ? { value: await action(trx, checked) } : null;
      }),
    );
    if (!out) throw codeInvalid();
    return out.value;
  }

  return {
    async beginEnrollment(userId, email) {
      const state = await stateOf(db, userId);
      if (!state) throw new Error('two-factor enrollment for a user that does not exist');
      if (state.totp_enabled_at) throw alreadyEnabled();
      const raw = randomBytes(SECRET_BYTES);
      const secret = base32Encode(raw);
      const sealed = box.seal(raw, pendingContext(userId));
      if (!(await repo.setPendingSecret(db, userId, sealed))) throw alreadyEnabled();
      const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(email ?? state.email)}`;
      const params = new URLSearchParams({
        secret,
        issuer,
        algorithm: 'SHA1',
        digits: String(TOTP_DIGITS),
        period: String(TOTP_PERIOD_SECONDS),
      });
      const otpauthUri = `otpauth://totp/${label}?${params.toString().replace(/\+/g, '%20')}`;
      const qrSvg = await (
        await qrcode()
      ).default.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M' });
      return { secret, otpauthUri, qrSvg };
    },

    async confirmEnrollment(userId, code) {
      const out = await throttle.attempt(userId, async () => {
        const state = await stateOf(db, userId);
        if (state?.totp_enabled_at) throw alreadyEnabled();
        const pending = state?.two_factor_pending_secret_enc;
        if (!pending) {
          throw new TwoFactorError(
            'TWO_FACTOR_ENROLLMENT_NOT_STARTED',
            'start two-factor enrollment before confirming it',
          );
        }
        const secret = box.open(pending, pendingContext(userId));
        const step = matchTotpStep(secret, code, now());
        if (step === null) return null;
        return db.transaction().execute(async (trx) => {
          const enabled = await repo.enableTwoFactor(trx, userId, {
            expectedPending: pending,
            secretSealed: box.seal(secret, activeContext(userId)),
            step,
          });
          // A concurrent re-enrollment replaced the secret this code belongs to.
          return enabled ? { recoveryCodes: await issueRecoveryCodes(trx, userId) } : null;
        });
      });
      if (!out) throw codeInvalid();
      deps.onChanged?.(userId);
      return out;
    },

    async verify(userId, code) {
      return withValidCode(userId, code, async (trx, checked) => ({
        method: checked.method,
        recoveryCodesRemaining: await repo.countUnusedRecoveryCodes(trx, userId),
      }));
    },

    async disable(userId, code, opts) {
      await withValidCode(userId, code, async (trx) => {
        await repo.disableTwoFactor(trx, userId);
        await repo.endOtherAccess(trx, userId, opts.keepSessionId);
      });
      deps.onChanged?.(userId);
    },

    async regenerateRecoveryCodes(userId, code) {
      return withValidCode(userId, code, async (trx) => ({
        recoveryCodes: await issueRecoveryCodes(trx, userId),
      }));
    },

    async isEnabled(userId) {
      const state = await stateOf(db, userId);
      return Boolean(state?.totp_enabled_at);
    },
  };
}
