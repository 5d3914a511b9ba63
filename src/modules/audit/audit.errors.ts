import { AppError } from '../../platform/errors.js';

export type AuditErrorCode = 'INVALID_AUDIT_FILTER' | 'AUDIT_CHAIN_EMPTY' | 'RATE_LIMITED';

const STATUS: Record<AuditErrorCode, number> = {
  INVALID_AUDIT_FILTER: 400,
  AUDIT_CHAIN_EMPTY: 409,
  RATE_LIMITED: 429,
};

/** Errors of the audit module. */
export class AuditError extends AppError<AuditErrorCode> {
  constructor(code: AuditErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}
