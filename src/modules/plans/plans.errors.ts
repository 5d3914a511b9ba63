import { AppError } from '../../platform/errors.js';

const STATUS = {
  PLAN_NOT_FOUND: 404,
  ORGANIZATION_NOT_FOUND: 404,
  PLAN_INVALID: 400,
  PLAN_KEY_TAKEN: 409,
  PLAN_NOT_AVAILABLE: 409,
  SEAT_LIMIT_REACHED: 409,
  PLAN_INTERVAL_CHANGE: 409,
  PLAN_CURRENCY_CHANGE: 409,
} as const;

export type PlansErrorCode = keyof typeof STATUS;

/** Errors of the plan catalog, organization plans and seats. */
export class PlansError extends AppError<PlansErrorCode> {
  constructor(code: PlansErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

export const planNotFound = () => new PlansError('PLAN_NOT_FOUND', 'plan not found');
export const organizationNotFound = () => new PlansError('ORGANIZATION_NOT_FOUND', 'organization not found');
export const invalidPlan = (message: string) => new PlansError('PLAN_INVALID', message);

/** 409 SEAT_LIMIT_REACHED naming the limit (`details.limit`) and the seats in use (`details.used`). */
export const seatLimitReached = (limit: number, used: number, what: string) =>
  new PlansError(
    'SEAT_LIMIT_REACHED',
    `the plan allows ${limit} seat${limit === 1 ? '' : 's'} and ${used} ${used === 1 ? 'is' : 'are'} in use; ${what}`,
    { limit, used },
  );
