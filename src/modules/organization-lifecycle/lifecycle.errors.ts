import { AppError } from '../../platform/errors.js';

export type LifecycleErrorCode =
  | 'PLATFORM_ORGANIZATION_NOT_FOUND'
  | 'PLATFORM_ORGANIZATION_NOT_PENDING_DELETION'
  | 'PLATFORM_DELETION_CONFIRMATION_MISMATCH';

const STATUS: Record<LifecycleErrorCode, number> = {
  PLATFORM_ORGANIZATION_NOT_FOUND: 404,
  PLATFORM_ORGANIZATION_NOT_PENDING_DELETION: 409,
  PLATFORM_DELETION_CONFIRMATION_MISMATCH: 400,
};

/** Errors of the organization lifecycle's platform routes. */
export class LifecycleError extends AppError<LifecycleErrorCode> {
  constructor(code: LifecycleErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
