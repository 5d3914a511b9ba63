import { createProjectsService } from '../../modules/projects/projects.service.js';
import { createOrganizationsService } from '../../modules/organizations/organizations.service.js';
import { hasLiveSubscription } from '../../modules/billing/stripe.repository.js';
import { createMembershipsService } from '../../modules/memberships/memberships.service.js';
import { createRolesService } from '../../modules/memberships/roles.service.js';
import { rolePermissionsIn } from '../../modules/memberships/role-permissions.js';
import type { Throttle } from '../../modules/auth/throttle.js';
import { createInvitationsService } from '../../modules/invitations/invitations.service.js';
import { createApiKeysService } from '../../modules/api-keys/api-keys.service.js';
import { seatCheck } from '../../modules/plans/seats.js';
import { createOrganizationLifecycleService } from '../../modules/organization-lifecycle/lifecycle.service.js';
import { createTenantKeysService } from '../../modules/tenant-keys/tenant-keys.service.js';
import { createWebhooksService } from '../../modules/webhooks/webhooks.service.js';
import { webhookSettings } from '../../modules/webhooks/webhook-settings.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/**
 * Organizations and what they hold: members, roles, invitations, projects, API keys, webhooks, their
 * data keys, their lifecycle (suspension, deletion).
 */
export function createOrganizationServices(
  deps: ServiceDeps,
  caches: Caches,
  /** The per-recipient mail throttle (services.ts), shared with sign-up, verification and reset mails. */
  recipientThrottle: Throttle,
) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant, privileged } = tenancy;
  const { bus, membershipLookup, invalidateOrganization, tenantSealer, keyRotation } = caches;
  return {
    organizations: createOrganizationsService({
      withTenant,
      privileged,
      invalidateOrganization,
      slugClaimed: (slug) => bus.publish({ kind: 'organization_slug', slug }),
      deletionGraceDays: opts.orgDeletionGraceDays ?? 30,
      deletionBlockedByBilling: hasLiveSubscription,
      settingsLink: (slug) => `${opts.publicUrl.replace(/\/+$/, '')}/o/${encodeURIComponent(slug)}/settings`,
      ...(opts.now ? { now: opts.now } : {}),
      regions: regionsOf(opts.tenantDatabases),
    }),
    memberships: createMembershipsService({ withTenant, lookup: membershipLookup }),
    roles: createRolesService({ withTenant, lookup: membershipLookup }),
    invitations: createInvitationsService({
      withTenant,
      invitationByToken: (hash) => privileged.invitationByToken(hash),
      rolePermissions: rolePermissionsIn,
      membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
      publicUrl: opts.publicUrl,
      recipientThrottle,
      seats: seatCheck,
    }),
    apiKeys: createApiKeysService({
      withTenant,
      onRevoked: (keyId) => bus.publish({ kind: 'api_key', keyId }),
      onCreated: (keyId) => bus.publish({ kind: 'api_key', keyId }),
    }),
    projects: createProjectsService({ withTenant }),
    // Endpoints' signing secrets are sealed with each organization's data key.
    webhooks: createWebhooksService({
      withTenant,
      sealer: tenantSealer,
      settings: webhookSettings(opts.webhooks),
    }),
    tenantKeys: createTenantKeysService({
      withTenant,
      platformDb,
      vault: deps.tenantKeys.vault,
      rotation: keyRotation,
    }),
    organizationLifecycle: createOrganizationLifecycleService({
      platformDb,
      organizationChanged: invalidateOrganization,
      log: opts.log,
    }),
  };
}

/** REGIONS and DEFAULT_REGION as the organizations service takes them. */
export function regionsOf(config: { regions?: Record<string, string>; defaultRegion?: string } | undefined): {
  databases: Record<string, string>;
  defaultRegion?: string;
} {
  return {
    databases: config?.regions ?? {},
    ...(config?.defaultRegion !== undefined ? { defaultRegion: config.defaultRegion } : {}),
  };
}
