import { createFlagsService } from '../../modules/flags/flags.service.js';
import { createFlagDefinitionsService } from '../../modules/flags/flag-definitions.service.js';
import { createPlanCatalogService } from '../../modules/plans/plan-catalog.service.js';
import { createOrganizationPlanService } from '../../modules/plans/organization-plan.service.js';
import { guardOwnerPlanChanges } from '../../modules/billing/providers/plan-change-guard.js';
import type { BillingProviders } from '../../modules/billing/providers/select-provider.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** What each organization may use: feature flags, the plan catalog and each organization's plan. */
export function createEntitlements(
  deps: ServiceDeps,
  { bus, flagCache }: Caches,
  billingProviders: BillingProviders,
) {
  const { tenancy, platformDb } = deps;
  const { withTenant } = tenancy;
  return {
    flags: createFlagsService({
      withTenant,
      cache: flagCache,
      overridesChanged: (orgId) => bus.publish({ kind: 'flag_overrides', orgId }),
    }),
    flagDefinitions: createFlagDefinitionsService({
      db: platformDb,
      definitionsChanged: (how) => bus.publish({ kind: 'flags', deleted: how === 'deleted' }),
    }),
    planCatalog: createPlanCatalogService({
      db: platformDb,
      catalogChanged: () => bus.publish({ kind: 'plans' }),
    }),
    organizationPlans: guardOwnerPlanChanges(
      createOrganizationPlanService({
        withTenant,
        // The organization's flag context carries its plan and the plan's entitlements.
        planChanged: (orgId) => bus.publish({ kind: 'flag_overrides', orgId }),
      }),
      billingProviders.provider,
    ),
  };
}
