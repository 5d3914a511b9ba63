import { StripeBillingError } from '../stripe.errors.js';
import type { BillingProvider } from './billing-provider.js';

const local = () =>
  new StripeBillingError(
    'BILLING_PROVIDER_LOCAL',
    'this deployment bills with the built-in provider: change the plan with PUT /v1/billing/plan',
  );

/** The built-in provider: today's behaviour (plans changed in the product, invoices issued by it). */
export function createLocalProvider(): BillingProvider {
  return {
    kind: 'local',
    issuesInvoices: true,
    info: () =>
      Promise.resolve({
        provider: 'local',
        checkout: false,
        portal: false,
        checkoutPlans: [],
        status: null,
        graceEndsAt: null,
      }),
    checkoutUrl: () => Promise.reject(local()),
    portalUrl: () => Promise.reject(local()),
  };
}
