import { AppError } from '../../platform/errors.js';

export type AuthErrorCode =
  | 'AUTH_EMAIL_INVALID'
  | 'AUTH_EMAIL_TAKEN'
  | 'AUTH_PASSWORD_WEAK'
  | 'AUTH_INVALID_CREDENTIALS'
  | 'AUTH_PASSWORD_INCORRECT'
  | 'AUTH_PASSWORD_UNCHANGED'
  | 'EMAIL_NOT_VERIFIED'
  | 'AUTH_THROTTLED'
  | 'AUTH_TOKEN_INVALID'
  | 'AUTH_EMAIL_ALREADY_VERIFIED'
  | 'AUTH_SESSION_NOT_FOUND'
  | 'CSRF_ORIGIN_MISMATCH'
  | 'SSO_REQUIRED';

const STATUS: Record<AuthErrorCode, number> = {
  AUTH_EMAIL_INVALID: 400,
  AUTH_EMAIL_TAKEN: 409,
  AUTH_PASSWORD_WEAK: 400,
  AUTH_INVALID_CREDENTIALS: 401,
  AUTH_PASSWORD_INCORRECT: 403,
  AUTH_PASSWORD_UNCHANGED: 400,
  EMAIL_NOT_VERIFIED: 403,
  AUTH_THROTTLED: 429,
  AUTH_TOKEN_INVALID: 400,
  AUTH_EMAIL_ALREADY_VERIFIED: 409,
  AUTH_SESSION_NOT_FOUND: 404,
  CSRF_ORIGIN_MISMATCH: 403,
  SSO_REQUIRED: 403,
};

/** Errors of the auth module. `retryAfterSeconds` is set on AUTH_THROTTLED (the `Retry-After` header). */
export class AuthError extends AppError<AuthErrorCode> {
  readonly retryAfterSeconds: number | undefined;
  constructor(
    code: AuthErrorCode,
    message: string,
    opts: { details?: Record<string, unknown>; retryAfterSeconds?: number } = {},
  ) {
    super(code, message, STATUS[code], opts.details);
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

/** The one answer to a failed login, whether the email is unknown or the password wrong. */
export const invalidCredentials = () =>
  new AuthError('AUTH_INVALID_CREDENTIALS', 'email or password is incorrect');

/** The one answer to a missing, expired or used email token. */
export const invalidToken = () => new AuthError('AUTH_TOKEN_INVALID', 'this link is invalid or has expired');

/** The one answer for a session that does not exist or belongs to someone else. */
export const sessionNotFound = () => new AuthError('AUTH_SESSION_NOT_FOUND', 'session not found');

/** Too many attempts; retry after the given number of seconds. */
export const throttled = (retryAfterSeconds: number) =>
  new AuthError('AUTH_THROTTLED', 'too many attempts; try again later', {
    retryAfterSeconds,
    details: { retryAfterSeconds },
  });
