import { AppError } from '../../platform/errors.js';

export type ApiKeysErrorCode =
  | 'API_KEY_NOT_FOUND'
  | 'API_KEY_INVALID'
  | 'API_KEY_EXPIRED'
  | 'API_KEY_REVOKED'
  | 'API_KEY_SCOPES_INVALID'
  | 'API_KEY_SCOPES_NOT_ALLOWED'
  | 'API_KEY_EXPIRY_INVALID'
  | 'API_KEY_CANNOT_CREATE_KEYS'
  | 'RATE_LIMITED';

const STATUS: Record<ApiKeysErrorCode, number> = {
  API_KEY_NOT_FOUND: 404,
  API_KEY_INVALID: 401,
  API_KEY_EXPIRED: 401,
  API_KEY_REVOKED: 401,
  API_KEY_SCOPES_INVALID: 400,
  API_KEY_SCOPES_NOT_ALLOWED: 403,
  API_KEY_EXPIRY_INVALID: 400,
  API_KEY_CANNOT_CREATE_KEYS: 403,
  RATE_LIMITED: 429,
};

/** Errors of the API keys module. */
export class ApiKeysError extends AppError<ApiKeysErrorCode> {
  constructor(code: ApiKeysErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The one answer for a key that does not exist in the caller's organization, whoever else owns it. */
export const apiKeyNotFound = () => new ApiKeysError('API_KEY_NOT_FOUND', 'API key not found');

/** The one answer for a malformed key, an unknown key id and a wrong secret alike. */
export const apiKeyInvalid = () => new ApiKeysError('API_KEY_INVALID', 'API key is invalid');
