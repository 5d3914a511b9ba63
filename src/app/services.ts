import { createThrottle, RECIPIENT_THROTTLE_RULES } from '../modules/auth/throttle.js';
import type { ServiceDeps } from './services/deps.js';
import { createCaches } from './services/caches.js';
import { createSignIn } from './services/sign-in.js';
import { createAuditLogs } from './services/audit.js';
import { createUsage } from './services/usage.js';
import { createBilling } from './services/billing.js';
import { createEntitlements } from './services/entitlements.js';
import { createPersonalData } from './services/personal-data.js';
import { createOrganizationServices } from './services/organizations.js';
import { createPlatformAdmin } from './services/platform-admin.js';
import { createScim } from './services/scim.js';

export type { ServiceDeps } from './services/deps.js';

/**
 * Builds every service with only the dependencies it uses: one factory per concern in src/app/services/,
 * all sharing the per-instance caches and their invalidation bus (services/caches.ts).
 */
export function createServices(deps: ServiceDeps) {
  const caches = createCaches(deps);
  // One per-recipient mail throttle (a budget per mail kind) for sign-up, verification, reset and
  // invitation mails alike.
  const recipientThrottle = createThrottle('mail.recipient', RECIPIENT_THROTTLE_RULES);
  const signIn = createSignIn(deps, caches, recipientThrottle);
  const billing = createBilling(deps, caches);
  return {
    /** Unregisters this composition's platform-chain key store (compose's close). */
    releasePlatformKeys: caches.releasePlatformKeys,
    bus: caches.bus,
    tenantSealer: caches.tenantSealer,
    tenantKeyShredder: caches.tenantKeyShredder,
    keyRotation: caches.keyRotation,
    quotaCounters: caches.quotaCounters,
    quotaNotices: caches.quotaNotices,
    userKeys: caches.userKeys,
    membershipLookup: caches.membershipLookup,
    organizationPolicies: caches.organizationPolicies,
    organizationSlugs: caches.organizationSlugs,
    sessions: caches.sessions,
    tokens: caches.tokens,
    apiKeyAuth: caches.apiKeyAuth,
    ...signIn,
    ...createAuditLogs(deps, caches),
    ...createUsage(deps, caches),
    ...billing,
    ...createEntitlements(deps, caches, billing.billingProviders),
    ...createPersonalData(deps, caches, signIn.twoFactor),
    ...createOrganizationServices(deps, caches, recipientThrottle),
    ...createPlatformAdmin(deps, caches, billing.billingProviders),
    scim: createScim(deps, caches),
  };
}

export type Services = ReturnType<typeof createServices>;
