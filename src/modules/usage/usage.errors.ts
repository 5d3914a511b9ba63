import { AppError } from '../../platform/errors.js';

export type UsageErrorCode =
  'METER_NOT_FOUND' | 'METER_EXISTS' | 'METER_INVALID' | 'USAGE_INVALID' | 'USAGE_RANGE_TOO_LARGE';

const STATUS: Record<UsageErrorCode, number> = {
  METER_NOT_FOUND: 404,
  METER_EXISTS: 409,
  METER_INVALID: 400,
  USAGE_INVALID: 400,
  USAGE_RANGE_TOO_LARGE: 400,
};

/** Errors of the usage module (whole-request errors; per-event outcomes are not errors). */
export class UsageError extends AppError<UsageErrorCode> {
  constructor(code: UsageErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

export const meterNotFound = () => new UsageError('METER_NOT_FOUND', 'meter not found');
