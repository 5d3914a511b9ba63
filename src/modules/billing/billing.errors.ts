import { AppError } from '../../platform/errors.js';

export type BillingErrorCode =
  | 'INVOICE_NOT_FOUND'
  | 'PERIOD_NOT_CLOSED'
  | 'INVALID_PERIOD'
  | 'INVOICE_NUMBERING_BUSY'
  | 'USAGE_NOT_BILLABLE';

const STATUS: Record<BillingErrorCode, number> = {
  INVOICE_NOT_FOUND: 404,
  PERIOD_NOT_CLOSED: 409,
  INVALID_PERIOD: 400,
  // Another finalization held the deployment's invoice counter for longer than the lock timeout (5 s):
  // nothing was written; the closing job retries.
  INVOICE_NUMBERING_BUSY: 503,
  // A priced meter's usage is not a whole number of units (or cannot be combined over the period, as a
  // unique_count over a period not made of whole months): the price, or the meter, has to change.
  USAGE_NOT_BILLABLE: 422,
};

/** Errors of the billing module (the pricing engine's are PricingError). */
export class BillingError extends AppError<BillingErrorCode> {
  constructor(code: BillingErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}

/** The one answer for an invoice that does not exist in the caller's tenant, whoever else owns it. */
export const invoiceNotFound = () => new BillingError('INVOICE_NOT_FOUND', 'invoice not found');
