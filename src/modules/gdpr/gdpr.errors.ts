import { AppError } from '../../platform/errors.js';

export type GdprErrorCode =
  | 'EXPORT_NOT_FOUND'
  | 'EXPORT_ALREADY_RUNNING'
  | 'EXPORT_NOT_READY'
  | 'EXPORT_LINK_INVALID'
  | 'EXPORT_LINK_EXPIRED'
  | 'IDEMPOTENCY_KEY_REUSED';

const STATUS: Record<GdprErrorCode, number> = {
  EXPORT_NOT_FOUND: 404,
  EXPORT_ALREADY_RUNNING: 409,
  EXPORT_NOT_READY: 409,
  EXPORT_LINK_INVALID: 401,
  EXPORT_LINK_EXPIRED: 401,
  IDEMPOTENCY_KEY_REUSED: 422,
};

/** Errors of the GDPR export module. */
export class GdprError extends AppError<GdprErrorCode> {
  constructor(code: GdprErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** One answer for a missing export, another tenant's or user's, and one whose link names someone else. */
export const exportNotFound = () => new GdprError('EXPORT_NOT_FOUND', 'export not found');
