import { AppError } from '../../../platform/errors.js';

export type PricingErrorCode = 'INVALID_PRICE' | 'INVALID_PRICING_INPUT' | 'AMOUNT_OVERFLOW';

const STATUS: Record<PricingErrorCode, number> = {
  INVALID_PRICE: 422,
  INVALID_PRICING_INPUT: 422,
  AMOUNT_OVERFLOW: 422,
};

/** A price or pricing input the engine refuses to compute (never a partial invoice). */
export class PricingError extends AppError<PricingErrorCode> {
  constructor(code: PricingErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
