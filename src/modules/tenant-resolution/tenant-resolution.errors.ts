import { AppError } from '../../platform/errors.js';

export type TenantResolutionErrorCode =
  | 'TWO_FACTOR_REQUIRED'
  | 'TWO_FACTOR_ENROLLMENT_REQUIRED'
  | 'ORGANIZATION_SUSPENDED'
  | 'ORGANIZATION_PENDING_DELETION';

const STATUS: Record<TenantResolutionErrorCode, number> = {
  TWO_FACTOR_REQUIRED: 401,
  TWO_FACTOR_ENROLLMENT_REQUIRED: 403,
  ORGANIZATION_SUSPENDED: 403,
  ORGANIZATION_PENDING_DELETION: 409,
};

/** Errors of tenant resolution that are not "not found". */
export class TenantResolutionError extends AppError<TenantResolutionErrorCode> {
  constructor(code: TenantResolutionErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}
