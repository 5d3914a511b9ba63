import { AppError } from '../../platform/errors.js';

export type TokensErrorCode =
  | 'TOKEN_ORGANIZATION_NOT_FOUND'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_STALE'
  | 'TOKEN_REVOKED'
  | 'TOKEN_REUSED';

const STATUS: Record<TokensErrorCode, number> = {
  TOKEN_ORGANIZATION_NOT_FOUND: 404,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_STALE: 401,
  TOKEN_REVOKED: 401,
  TOKEN_REUSED: 401,
};

/** Errors of the API tokens module (access JWTs and rotating refresh tokens). */
export class TokensError extends AppError<TokensErrorCode> {
  constructor(code: TokensErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}

/** One answer for a malformed, forged, unknown, expired-refresh or revoked token: nothing to tell apart. */
export const tokenInvalid = (what: 'access token' | 'refresh token') =>
  new TokensError('TOKEN_INVALID', `${what} is invalid`);

/** An organization that does not exist and one the user has no ACTIVE membership in look the same. */
export const tokenOrganizationNotFound = () =>
  new TokensError('TOKEN_ORGANIZATION_NOT_FOUND', 'organization not found');
