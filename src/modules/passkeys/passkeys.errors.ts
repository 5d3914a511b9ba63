import { AppError } from '../../platform/errors.js';

export type PasskeyErrorCode =
  | 'PASSKEY_INVALID'
  | 'PASSKEY_SIGN_IN_FAILED'
  | 'PASSKEY_NOT_FOUND'
  | 'PASSKEY_ALREADY_REGISTERED'
  | 'PASSKEY_SESSION_REQUIRED'
  | 'PASSKEY_EMAIL_UNVERIFIED';

const STATUS: Record<PasskeyErrorCode, number> = {
  // A registration response that does not verify (or whose challenge is unknown, used or expired).
  PASSKEY_INVALID: 400,
  // A sign-in or second-factor assertion that does not verify: one answer, whatever the reason.
  PASSKEY_SIGN_IN_FAILED: 401,
  // Not the caller's passkey (or none): the same answer as for an id that does not exist.
  PASSKEY_NOT_FOUND: 404,
  PASSKEY_ALREADY_REGISTERED: 409,
  // Registration and the second factor need a browser session (not an API access token).
  PASSKEY_SESSION_REQUIRED: 403,
  // An account whose address is unproven may have been opened by someone who merely typed it: a passkey
  // it added would keep signing them in after the owner proves the address.
  PASSKEY_EMAIL_UNVERIFIED: 403,
};

/** Errors of the passkeys module. Messages never contain challenges, keys or signatures. */
export class PasskeyError extends AppError<PasskeyErrorCode> {
  constructor(code: PasskeyErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}

export const registrationInvalid = () =>
  new PasskeyError('PASSKEY_INVALID', 'the passkey could not be verified; start again');

export const signInFailed = () =>
  new PasskeyError('PASSKEY_SIGN_IN_FAILED', 'the passkey could not be verified; start again');

export const passkeyNotFound = () => new PasskeyError('PASSKEY_NOT_FOUND', 'passkey not found');

export const sessionRequired = () =>
  new PasskeyError('PASSKEY_SESSION_REQUIRED', 'passkeys are managed from a signed-in browser session');

export const emailUnverified = () =>
  new PasskeyError('PASSKEY_EMAIL_UNVERIFIED', 'verify your email address before adding a passkey');
