import { AppError } from '../../platform/errors.js';

export type PlatformErrorCode =
  | 'PLATFORM_ORGANIZATION_NOT_FOUND'
  | 'PLATFORM_ORGANIZATION_INVALID'
  | 'PLATFORM_USER_NOT_FOUND'
  | 'PLATFORM_ORGANIZATION_PENDING_DELETION'
  | 'PLATFORM_DELETION_CONFIRMATION_MISMATCH';

const STATUS: Record<PlatformErrorCode, number> = {
  PLATFORM_ORGANIZATION_NOT_FOUND: 404,
  PLATFORM_ORGANIZATION_INVALID: 400,
  PLATFORM_USER_NOT_FOUND: 404,
  PLATFORM_ORGANIZATION_PENDING_DELETION: 409,
  PLATFORM_DELETION_CONFIRMATION_MISMATCH: 400,
};

/** Errors of platform administration. */
export class PlatformError extends AppError<PlatformErrorCode> {
  constructor(code: PlatformErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
