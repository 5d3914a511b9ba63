import { AppError } from '../../platform/errors.js';

export type TwoFactorErrorCode =
  | 'TWO_FACTOR_CODE_INVALID'
  | 'TWO_FACTOR_THROTTLED'
  | 'TWO_FACTOR_REQUIRED'
  | 'TWO_FACTOR_ENROLLMENT_REQUIRED'
  | 'TWO_FACTOR_ALREADY_ENABLED'
  | 'TWO_FACTOR_NOT_ENABLED'
  | 'TWO_FACTOR_ENROLLMENT_NOT_STARTED'
  | 'TWO_FACTOR_SESSION_REQUIRED';

const STATUS: Record<TwoFactorErrorCode, number> = {
  TWO_FACTOR_CODE_INVALID: 400,
  TWO_FACTOR_THROTTLED: 429,
  // Signed in, but this session has not presented its second factor yet.
  TWO_FACTOR_REQUIRED: 401,
  // The organization requires two-factor authentication and the user has not enrolled.
  TWO_FACTOR_ENROLLMENT_REQUIRED: 403,
  TWO_FACTOR_ALREADY_ENABLED: 409,
  TWO_FACTOR_NOT_ENABLED: 409,
  TWO_FACTOR_ENROLLMENT_NOT_STARTED: 409,
  // The credential has no session to mark verified (e.g. an API key).
  TWO_FACTOR_SESSION_REQUIRED: 403,
};

/** Errors of the two-factor module. Messages never contain codes or secrets. */
export class TwoFactorError extends AppError<TwoFactorErrorCode> {
  constructor(code: TwoFactorErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The one answer for a wrong, expired, replayed or used code: which of these it was is not said. */
export const codeInvalid = () => new TwoFactorError('TWO_FACTOR_CODE_INVALID', 'the code is not valid');

export const enrollmentRequired = () =>
  new TwoFactorError(
    'TWO_FACTOR_ENROLLMENT_REQUIRED',
    'this organization requires two-factor authentication: enable it first',
  );

export const twoFactorRequired = () =>
  new TwoFactorError('TWO_FACTOR_REQUIRED', 'two-factor verification required for this session');

export const notEnabled = () =>
  new TwoFactorError('TWO_FACTOR_NOT_ENABLED', 'two-factor authentication is not enabled');
