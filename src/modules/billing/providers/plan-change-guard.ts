import type { OrganizationPlanService } from '../../plans/organization-plan.service.js';
import { StripeBillingError } from '../stripe.errors.js';
import type { BillingProvider } from './billing-provider.js';

/**
 * With the Stripe provider, an owner's direct plan change (`PUT /v1/billing/plan`) is refused with 409
 * PLAN_MANAGED_BY_STRIPE: the plan follows the subscription bought through Checkout or changed in the
 * Customer Portal (the webhook applies it), so a direct change would bypass payment. Platform
 * administrators' changes stay (support, contracts). With the local provider the service is unchanged.
 */
export function guardOwnerPlanChanges(
  service: OrganizationPlanService,
  provider: BillingProvider,
): OrganizationPlanService {
  if (provider.kind === 'local') return service;
  return {
    ...service,
    change: () =>
      Promise.reject(
        new StripeBillingError(
          'PLAN_MANAGED_BY_STRIPE',
          'the plan follows the Stripe subscription: use Checkout or the billing portal',
        ),
      ),
  };
}
