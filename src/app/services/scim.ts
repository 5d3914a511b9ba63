import { admitByLifecycle } from '../../modules/tenant-resolution/organization-policy.js';
import { createScimEventSink, createScimTokensService } from '../../modules/scim/scim-tokens.service.js';
import { createScimUsersService } from '../../modules/scim/scim-users.service.js';
import { createScimGroupsService } from '../../modules/scim/scim-groups.service.js';
import { scimTokenLookup } from '../../modules/scim/scim-auth.js';
import { createScimRateLimiter } from '../../modules/scim/scim-rate-limit.js';
import { seatCheck } from '../../modules/plans/seats.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/**
 * SCIM 2.0 directory sync (src/modules/scim): tokens resolved per request by a named lookup on the
 * runtime pool; deprovisioning invalidates the membership lookups on every instance (bus).
 */
export function createScim(deps: ServiceDeps, { bus, membershipLookup, organizationPolicies }: Caches) {
  const { tenancy, opts } = deps;
  const { withTenant } = tenancy;
  return {
    tokens: createScimTokensService({ withTenant }),
    users: createScimUsersService({
      withTenant,
      membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
      userChanged: (userId) => bus.publish({ kind: 'user', userId }),
      baseUrl: opts.publicUrl.replace(/\/+$/, ''),
      seats: seatCheck,
    }),
    groups: createScimGroupsService({
      withTenant,
      baseUrl: opts.publicUrl.replace(/\/+$/, ''),
      membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
    }),
    lookup: scimTokenLookup(tenancy.control.pool),
    // The organization's lifecycle, as for an API key: suspended refuses, pending deletion reads only.
    admitted: async (orgId: string, method: string) =>
      admitByLifecycle(await organizationPolicies.get(orgId), {
        method,
        apiKey: true,
        isPlatformAdmin: false,
        allowWhenBillingSuspended: false,
        allowWhenPendingDeletion: false,
      }),
    recordEvent: createScimEventSink({ withTenant }),
    rateLimit: createScimRateLimiter(opts.scimRateLimit),
  };
}
