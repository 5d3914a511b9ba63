import { AppError } from '../../platform/errors.js';

export type StripeBillingErrorCode =
  | 'BILLING_PROVIDER_LOCAL'
  | 'PLAN_NOT_SOLD'
  | 'STRIPE_SIGNATURE_INVALID'
  | 'STRIPE_UNAVAILABLE'
  | 'STRIPE_NOT_CONFIGURED'
  | 'PLAN_MANAGED_BY_STRIPE'
  | 'SUBSCRIPTION_EXISTS';

const STATUS: Record<StripeBillingErrorCode, number> = {
  // The deployment bills with the built-in provider: there is no Stripe checkout or portal.
  BILLING_PROVIDER_LOCAL: 409,
  // The plan has no Stripe price (STRIPE_PRICES): it cannot be bought through Checkout.
  PLAN_NOT_SOLD: 409,
  STRIPE_SIGNATURE_INVALID: 400,
  // POST /webhooks/stripe on a deployment without STRIPE_SECRET_KEY.
  STRIPE_NOT_CONFIGURED: 404,
  // PUT /v1/billing/plan with the Stripe provider: the plan follows the Stripe subscription (Checkout,
  // the portal); an owner's direct change would bypass payment.
  PLAN_MANAGED_BY_STRIPE: 409,
  // Checkout with a subscription already active or past due: a second one would bill twice; the plan is
  // changed in the Customer Portal.
  SUBSCRIPTION_EXISTS: 409,
  // Stripe answered with an error or could not be reached; nothing was stored.
  STRIPE_UNAVAILABLE: 503,
};

/** Errors of the billing providers and the Stripe webhook. */
export class StripeBillingError extends AppError<StripeBillingErrorCode> {
  constructor(code: StripeBillingErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
