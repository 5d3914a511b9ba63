import { AppError } from '../../platform/errors.js';

export type SocialErrorCode =
  | 'SOCIAL_PROVIDER_NOT_FOUND'
  | 'SOCIAL_PROVIDER_UNAVAILABLE'
  | 'SOCIAL_PROVIDER_REFUSED'
  | 'SOCIAL_STATE_INVALID'
  | 'SOCIAL_EMAIL_MISSING'
  | 'SOCIAL_EMAIL_UNVERIFIED'
  | 'SOCIAL_IDENTITY_NOT_FOUND'
  | 'SOCIAL_LAST_SIGN_IN_METHOD'
  | 'SOCIAL_IDENTITY_TAKEN';

const STATUS: Record<SocialErrorCode, number> = {
  SOCIAL_PROVIDER_NOT_FOUND: 404,
  SOCIAL_PROVIDER_UNAVAILABLE: 503,
  SOCIAL_PROVIDER_REFUSED: 401,
  SOCIAL_STATE_INVALID: 400,
  SOCIAL_EMAIL_MISSING: 403,
  SOCIAL_EMAIL_UNVERIFIED: 403,
  SOCIAL_IDENTITY_NOT_FOUND: 404,
  SOCIAL_LAST_SIGN_IN_METHOD: 409,
  SOCIAL_IDENTITY_TAKEN: 409,
};

/** Errors of social sign-in; browser flows turn them into `/sign-in?error=<code>`. */
export class SocialError extends AppError<SocialErrorCode> {
  constructor(code: SocialErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
