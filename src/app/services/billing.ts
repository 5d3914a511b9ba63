import { createInvoicesService } from '../../modules/billing/invoices.service.js';
import { createBillingService } from '../../modules/billing/billing.service.js';
import { createBillingInputs } from '../../modules/billing/billing-inputs.service.js';
import { createPeriodCloser } from '../../modules/billing/period-close.js';
import { selectBillingProvider } from '../../modules/billing/providers/select-provider.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** Billing: the billing provider (local or Stripe), previews and period closing, invoices. */
export function createBilling(deps: ServiceDeps, { bus, invalidateOrganization }: Caches) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant, privileged } = tenancy;
  const billingInputs = createBillingInputs({ withTenant });
  const billing = createBillingService({
    withTenant,
    inputs: billingInputs,
    issuer: new URL(opts.publicUrl).host,
  });
  const billingProviders = selectBillingProvider({
    stripe: opts.stripe,
    withTenant,
    controlDb: platformDb,
    organizationByCustomer: (customerId) => privileged.stripeOrganizationByCustomer(customerId),
    publicUrl: opts.publicUrl,
    planChanged: (orgId) => bus.publish({ kind: 'flag_overrides', orgId }),
    organizationChanged: invalidateOrganization,
    log: opts.log,
  });
  return {
    billingProviders,
    billing,
    // The local provider's scheduled close (run by the job worker, see compose/jobs.ts).
    periodCloser: createPeriodCloser({ withTenant, inputs: billingInputs, billing }),
    invoices: createInvoicesService({ withTenant }),
  };
}
