import { AppError } from '../../platform/errors.js';
import { exceededMessage, type QuotaExceeded } from './quota-model.js';

export type QuotasErrorCode = 'QUOTA_EXCEEDED';

/** 429 `QUOTA_EXCEEDED`; `details` carries meter, period, limit, usage, resetAt and retryAfterSeconds
 *  (which the error handler turns into the `Retry-After` header). */
export class QuotasError extends AppError<QuotasErrorCode> {}

export const quotaExceededError = (e: QuotaExceeded, message = exceededMessage(e)): QuotasError =>
  new QuotasError('QUOTA_EXCEEDED', message, 429, { ...e });
