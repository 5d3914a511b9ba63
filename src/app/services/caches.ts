import {
  createMembershipLookup,
  type MembershipLookup,
} from '../../modules/memberships/membership-lookup.js';
import { createInvalidationBus, type InvalidationBus } from '../../platform/cache/invalidation-bus.js';
import { createSessionService } from '../../modules/auth/sessions.service.js';
import { createTokenService } from '../../modules/tokens/tokens.service.js';
import { createFlagCache } from '../../modules/flags/flag-cache.js';
import { loadOrganizationFlagContext } from '../../modules/flags/flags.service.js';
import { loadCompiledFlags } from '../../modules/flags/flag-definitions.service.js';
import { createApiKeyAuth } from '../../modules/api-keys/api-key-auth.js';
import {
  createOrganizationPolicies,
  type OrganizationPolicies,
} from '../../modules/tenant-resolution/organization-policy.js';
import { createOrganizationSlugs } from '../../modules/tenant-resolution/organization-slugs.js';
import { usageSettings } from '../../modules/usage/usage-settings.js';
import { createQuotaCounters } from '../../modules/quotas/quota-counters.js';
import { createQuotaNotices } from '../../modules/quotas/quota-notices.js';
import { quotaUsage, uniqueLookup } from '../../modules/quotas/quotas.repository.js';
import { createTenantSealer } from '../../platform/tenant-keys/tenant-sealer.js';
import { createTenantKeyShredder } from '../../platform/tenant-keys/shredder.js';
import { createKeyRotation } from '../../platform/tenant-keys/rotation.js';
import { createUserKeyStore } from '../../platform/user-keys/user-keys.js';
import { loadSubjectSecrets } from '../../platform/user-keys/subject-secret.js';
import {
  usePersonalDataKeys,
  usePersonalDataKeysInTenantDatabases,
  usePlatformPersonalDataKeys,
} from '../../platform/audit/personal-fields.js';
import type { ServiceDeps } from './deps.js';

/**
 * What every instance caches (memberships, organization policies and slugs, flags, API keys, quotas,
 * organization and personal keys, sessions, revoked tokens) and the invalidation bus that clears each cache
 * on every instance. The other services' factories take these from here.
 */
export function createCaches(deps: ServiceDeps) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant, privileged } = tenancy;
  // Per-user keys sealing the personal fields of audit entries (issue 12, erasure).
  const userKeys = createUserKeyStore({
    // The organizations' KMS provider (local KEK or AWS KMS) wraps the per-person keys too.
    kms: deps.tenantKeys.kms,
    // Kept in the key vault beside the organizations' keys: backups of the application database hold none.
    vault: deps.tenantKeys.vault.persons,
    // The secret keying address keys' ids: in the vault, created once, never changed by a KEK rotation.
    subjectSecret: () =>
      loadSubjectSecrets({
        vault: deps.tenantKeys.vault.persons,
        kms: deps.tenantKeys.kms,
        kek: opts.secrets.kek,
        previousKeks: opts.tenantKeys?.kekPrevious ?? [],
      }),
    // An erased address's key leaves every instance's cache at once, not 60 s later.
    destroyed: (subjectId) => bus.publish({ kind: 'personal_key', subjectId }),
  });
  usePersonalDataKeys(tenancy.control.db, userKeys);
  // The tenant databases of `database` placements: the same store, checking users in the control database.
  if (tenancy.databases) usePersonalDataKeysInTenantDatabases(tenancy.databases, userKeys, platformDb);
  const releasePlatformKeys = usePlatformPersonalDataKeys(userKeys);
  const localLookup = createMembershipLookup({ withTenant });
  const localPolicies = createOrganizationPolicies({ withTenant });
  const organizationSlugs = createOrganizationSlugs({
    lookup: (slug) => privileged.organizationIdBySlug(slug),
  });
  const flagCache = createFlagCache({
    loadDefinitions: () => loadCompiledFlags(platformDb),
    loadOrganization: (orgId) => loadOrganizationFlagContext(withTenant, orgId),
  });
  const apiKeyAuth = createApiKeyAuth({
    lookup: (keyId, secretHash) => privileged.apiKeyByKeyId(keyId, secretHash),
    withTenant,
    log: opts.log,
  });
  // Hard quotas: per-instance counters (aggregated usage read at most every few seconds + local counts).
  // The lateness window bounds what a monthly unique_count quota reads raw (the events not aggregated
  // yet): the same read for the hard quotas' counters and for the owners' notices.
  const lateness = usageSettings(opts.usage).latenessMs;
  const quotaNotices = createQuotaNotices({
    withTenant,
    publicUrl: opts.publicUrl,
    latenessMs: lateness,
    now: opts.quotas?.now,
    log: opts.log,
  });
  const quotaCounters = createQuotaCounters({
    load: (orgId, at) => withTenant(orgId, (db) => quotaUsage(db, orgId, at, lateness), { mode: 'read' }),
    // One query per organization, meter and period for a batch's values (at a unique_count limit).
    lookupUnique: (orgId, meter, values, start, end) =>
      withTenant(orgId, (db) => uniqueLookup(db, orgId, meter, values, start, end, lateness), {
        mode: 'read',
      }),
    refreshMs: opts.quotas?.refreshMs,
    latenessMs: lateness,
    // Something refused for a hard quota: the limit-reached notice, even if usage stops short of it.
    onRefused: (orgId, q) => quotaNotices.refused(orgId, q),
    now: opts.quotas?.now,
    log: opts.log,
  });
  // Every cache invalidation goes through the bus: applied here, and broadcast to the other instances.
  let publish: InvalidationBus['publish'] = () => {};
  // Per-organization encryption (docs/encryption.md): every secret stored per organization is sealed here.
  const tenantSealer = createTenantSealer({
    vault: deps.tenantKeys.vault,
    kms: deps.tenantKeys.kms,
    cacheTtlMs: opts.tenantKeys?.keyCacheTtlMs,
  });
  const tenantKeysChanged = (orgId: string) => publish({ kind: 'tenant_keys', orgId });
  const tenantKeyShredder = createTenantKeyShredder({
    vault: deps.tenantKeys.vault,
    keysChanged: tenantKeysChanged,
  });
  const keyRotation = createKeyRotation({
    vault: deps.tenantKeys.vault,
    kms: deps.tenantKeys.kms,
    sealer: tenantSealer,
    withTenant,
    keysChanged: tenantKeysChanged,
    cacheTtlMs: opts.tenantKeys?.keyCacheTtlMs,
    log: opts.log,
  });
  const sessions = createSessionService({
    db: platformDb,
    secureCookies: opts.secureCookies,
    log: opts.log,
    onInvalidate: (what) =>
      publish(
        'sessionId' in what
          ? { kind: 'session', sessionId: what.sessionId }
          : { kind: 'user', userId: what.userId },
      ),
  });
  const bus = createInvalidationBus({
    redisUrl: opts.redisUrl,
    log: opts.log,
    apply: (msg) => {
      if (msg.kind === 'membership') localLookup.invalidate(msg.orgId, msg.userId);
      else if (msg.kind === 'organization') {
        localLookup.invalidateOrganization(msg.orgId);
        localPolicies.invalidate(msg.orgId);
        organizationSlugs.forgetOrganization(msg.orgId);
      } else if (msg.kind === 'organization_slug') organizationSlugs.forgetSlug(msg.slug);
      else if (msg.kind === 'user') {
        sessions.invalidateUser(msg.userId);
        userKeys.forget(msg.userId);
        tokens.forgetRevoked({ userId: msg.userId });
      } else if (msg.kind === 'token_family') {
        tokens.forgetRevoked({ userId: msg.userId, familyId: msg.familyId });
      } else if (msg.kind === 'api_key') apiKeyAuth.invalidate(msg.keyId);
      else if (msg.kind === 'personal_key') userKeys.forget(msg.subjectId);
      else if (msg.kind === 'tenant_keys') {
        tenantSealer.forget(msg.orgId);
        userKeys.forget(msg.orgId); // the organization's key of its API keys' audit fields (a shred)
      } else if (msg.kind === 'placement') tenancy.router.invalidate(msg.orgId);
      else if (msg.kind === 'flags' || msg.kind === 'plans') {
        // The plan catalog changed: every organization's flag context holds its plan's entitlements.
        if (msg.kind === 'plans' || msg.deleted) flagCache.forgetAll();
        else flagCache.forgetDefinitions();
        if (msg.kind === 'plans') quotaCounters.forget(); // the quotas of any plan may have changed
      } else if (msg.kind === 'flag_overrides') {
        // Also sent when the organization's plan changes: its quotas are reloaded (usage is kept).
        flagCache.forgetOrganization(msg.orgId);
        quotaCounters.forget(msg.orgId);
      } else sessions.forgetSession(msg.sessionId);
    },
  });
  publish = (msg) => bus.publish(msg);
  const membershipLookup: MembershipLookup = {
    activeMembership: (orgId, userId) => localLookup.activeMembership(orgId, userId),
    invalidate: (orgId, userId) => bus.publish({ kind: 'membership', orgId, userId }),
    invalidateOrganization: (orgId) => bus.publish({ kind: 'organization', orgId }),
  };
  const organizationPolicies: OrganizationPolicies = {
    get: (orgId) => localPolicies.get(orgId),
    invalidate: (orgId) => bus.publish({ kind: 'organization', orgId }),
  };
  const invalidateOrganization = (orgId: string) => bus.publish({ kind: 'organization', orgId });
  const tokens = createTokenService({
    db: platformDb,
    keys: opts.secrets.jwtKeys,
    issuer: opts.publicUrl,
    membership: membershipLookup,
    onRevoked: (what) =>
      bus.publish(
        what.familyId
          ? { kind: 'token_family', userId: what.userId, familyId: what.familyId }
          : { kind: 'user', userId: what.userId },
      ),
  });
  return {
    userKeys,
    releasePlatformKeys,
    organizationSlugs,
    flagCache,
    apiKeyAuth,
    quotaNotices,
    quotaCounters,
    tenantSealer,
    tenantKeyShredder,
    keyRotation,
    sessions,
    bus,
    membershipLookup,
    organizationPolicies,
    invalidateOrganization,
    tokens,
  };
}

export type Caches = ReturnType<typeof createCaches>;
