import { createPlatformService } from '../../modules/platform-admin/platform-admin.service.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import type { BillingProviders } from '../../modules/billing/providers/select-provider.js';
import { createPlacementMoveService } from '../../modules/tenant-placement/tenant-placement.service.js';
import { createPlacementMovesAdmin } from '../../modules/tenant-placement/placement-moves.admin.js';
import { createTargetOwners } from '../../modules/tenant-placement/target-owners.js';
import { latestMigration } from '../../platform/db/migrate.js';
import { regionOfDatabase } from '../../platform/config-tenant-databases.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** The platform administrators' services: organizations across tenants, placement moves. */
export function createPlatformAdmin(
  deps: ServiceDeps,
  { bus, organizationPolicies }: Caches,
  billingProviders: BillingProviders,
) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant, privileged } = tenancy;
  const targetOwners = createTargetOwners(opts.tenantDatabases?.databases);
  return {
    platform: createPlatformService({
      withTenant,
      ...(billingProviders.stripe
        ? {
            billing: {
              graceDays: billingProviders.stripe.config.graceDays,
              billingLink: billingProviders.stripe.billingLink,
            },
          }
        : {}),
      platformOrganizations: (sessionToken, after, limit, q) =>
        withPlatformScope(platformDb, sessionToken, (scope) =>
          privileged.platformOrganizations(scope, after, limit, q),
        ),
      invalidatePolicy: (orgId) => organizationPolicies.invalidate(orgId),
      targetingChanged: (orgId) => bus.publish({ kind: 'flag_overrides', orgId }),
      log: opts.log,
    }),
    placementMoves: createPlacementMovesAdmin({
      engine:
        deps.owner &&
        createPlacementMoveService({
          owner: deps.owner.pool,
          roles: deps.owner.roles,
          targetOwner: (key) => targetOwners.get(key),
          regionOf: (key) => regionOfDatabase(opts.tenantDatabases?.regions ?? {}, key),
          schemaVersion: latestMigration(),
          invalidate: (orgId) => bus.publish({ kind: 'placement', orgId }),
          settleMs: opts.placementCacheTtlMs ?? 60_000,
          log: opts.log,
        }),
      platformDb,
      log: opts.log,
      targets: () => {
        const regions = opts.tenantDatabases?.regions ?? {};
        return Object.entries(opts.tenantDatabases?.databases ?? {})
          .filter(([, db]) => db.ownerUrl !== undefined)
          .map(([databaseKey]) => ({
            databaseKey,
            regions: Object.keys(regions)
              .filter((r) => regions[r] === databaseKey)
              .sort(),
          }))
          .sort((x, y) => (x.databaseKey < y.databaseKey ? -1 : 1));
      },
      regionKey: (region) => {
        const regions = opts.tenantDatabases?.regions ?? {};
        return Object.hasOwn(regions, region) ? regions[region] : undefined;
      },
    }),
  };
}
