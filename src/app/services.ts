import type pg from 'pg';
import type { RoleNames } from '../platform/db/bootstrap.js';
import type { PlatformDb } from '../platform/db/platform-db.js';
import type { Tenancy } from '../platform/tenancy/tenancy.js';
import { createProjectsService } from '../modules/projects/projects.service.js';
import { createInvoicesService } from '../modules/billing/invoices.service.js';
import { createBillingService } from '../modules/billing/billing.service.js';
import { createBillingInputs } from '../modules/billing/billing-inputs.service.js';
import { createPeriodCloser } from '../modules/billing/period-close.js';
import { createOrganizationsService } from '../modules/organizations/organizations.service.js';
import { hasLiveSubscription } from '../modules/billing/stripe.repository.js';
import { createMembershipLookup, type MembershipLookup } from '../modules/memberships/membership-lookup.js';
import { createInvalidationBus, type InvalidationBus } from '../platform/cache/invalidation-bus.js';
import { createMembershipsService } from '../modules/memberships/memberships.service.js';
import { createRolesService } from '../modules/memberships/roles.service.js';
import { rolePermissionsIn } from '../modules/memberships/role-permissions.js';
import { createSessionService } from '../modules/auth/sessions.service.js';
import { createAuthService } from '../modules/auth/auth.service.js';
import { createSocialSignInService } from '../modules/social-sign-in/social.service.js';
import { createSocialProviders } from '../modules/social-sign-in/social.providers.js';
import { createThrottle, RECIPIENT_THROTTLE_RULES } from '../modules/auth/throttle.js';
import { createTokenService } from '../modules/tokens/tokens.service.js';
import { createTwoFactorService } from '../modules/two-factor/two-factor.service.js';
import { createTwoFactorPolicyService } from '../modules/two-factor/two-factor.policy.js';
import { createPasskeysService } from '../modules/passkeys/passkeys.service.js';
import { normalizeOrigins } from '../modules/auth/csrf.js';
import { createInvitationsService } from '../modules/invitations/invitations.service.js';
import { createPlatformService } from '../modules/platform-admin/platform-admin.service.js';
import { createFlagCache } from '../modules/flags/flag-cache.js';
import { createFlagsService, loadOrganizationFlagContext } from '../modules/flags/flags.service.js';
import {
  createFlagDefinitionsService,
  loadCompiledFlags,
} from '../modules/flags/flag-definitions.service.js';
import { createApiKeysService } from '../modules/api-keys/api-keys.service.js';
import { createApiKeyAuth } from '../modules/api-keys/api-key-auth.js';
import {
  admitByLifecycle,
  createOrganizationPolicies,
  type OrganizationPolicies,
} from '../modules/tenant-resolution/organization-policy.js';
import { createOrganizationSlugs } from '../modules/tenant-resolution/organization-slugs.js';
import { createAuditService } from '../modules/audit/audit.service.js';
import { createPlatformAuditService } from '../modules/audit/platform-audit.service.js';
import { createAuditSigner, createAuditVerifier, publicKeyOf } from '../platform/audit/signing.js';
import { withPlatformScope } from '../platform/tenancy/platform-scope.js';
import { createPlanCatalogService } from '../modules/plans/plan-catalog.service.js';
import { createOrganizationPlanService } from '../modules/plans/organization-plan.service.js';
import { seatCheck } from '../modules/plans/seats.js';
import type { ComposeOptions } from './compose.js';
import { createMetersService } from '../modules/usage/meters.service.js';
import { allMeters, toDef } from '../modules/usage/meters.repository.js';
import { createMeterCatalog } from '../modules/usage/meter-catalog.js';
import { createUsageEventsService } from '../modules/usage/usage-events.service.js';
import { createUsageSummaryService } from '../modules/usage/usage-summary.service.js';
import { createUsageRecorder } from '../modules/usage/record-usage.js';
import { usageSettings } from '../modules/usage/usage-settings.js';
import { selectBillingProvider } from '../modules/billing/providers/select-provider.js';
import { guardOwnerPlanChanges } from '../modules/billing/providers/plan-change-guard.js';
import { createQuotaCounters } from '../modules/quotas/quota-counters.js';
import { createQuotaNotices } from '../modules/quotas/quota-notices.js';
import { createApiRequestsQuota } from '../modules/quotas/quota-hook.js';
import { quotaUsage } from '../modules/quotas/quotas.repository.js';
import { createOrganizationLifecycleService } from '../modules/organization-lifecycle/lifecycle.service.js';
import type { KeyVault } from '../platform/tenant-keys/key-vault.js';
import type { Kms } from '../platform/tenant-keys/kms.js';
import { createTenantSealer } from '../platform/tenant-keys/tenant-sealer.js';
import { createTenantKeyShredder } from '../platform/tenant-keys/shredder.js';
import { createKeyRotation } from '../platform/tenant-keys/rotation.js';
import { createTenantKeysService } from '../modules/tenant-keys/tenant-keys.service.js';
import { createWebhooksService } from '../modules/webhooks/webhooks.service.js';
import { createSsoModule, type SsoModule } from '../modules/sso/sso.module.js';
import { createSaml } from '../modules/sso/saml/saml.module.js';
import { createSsoPrivilegedOps } from '../platform/tenancy/privileged-sso.js';
import { webhookSettings } from '../modules/webhooks/webhook-settings.js';
import { GDPR_DEFAULTS } from '../platform/config-gdpr.js';
import { createExportLinks } from '../modules/gdpr/export-link.js';
import { createOrganizationExportsService } from '../modules/gdpr/organization-exports.service.js';
import { createAccountExportsService } from '../modules/gdpr/account-exports.service.js';
import { createExportDownloads } from '../modules/gdpr/export-download.js';
import { createUserKeyStore } from '../platform/user-keys/user-keys.js';
import { loadSubjectSecrets } from '../platform/user-keys/subject-secret.js';
import { usePersonalDataKeys, usePlatformPersonalDataKeys } from '../platform/audit/personal-fields.js';
import { createErasureService } from '../modules/account-erasure/erasure.service.js';
import { createPasswordHasher } from '../modules/auth/passwords.js';
import { LOGIN_THROTTLE_RULES } from '../modules/auth/throttle.js';
import { createPlacementMoveService } from '../modules/tenant-placement/tenant-placement.service.js';
import { createPlacementMovesAdmin } from '../modules/tenant-placement/placement-moves.admin.js';
import { latestMigration } from '../platform/db/migrate.js';
import { createScimEventSink, createScimTokensService } from '../modules/scim/scim-tokens.service.js';
import { createScimUsersService } from '../modules/scim/scim-users.service.js';
import { createScimGroupsService } from '../modules/scim/scim-groups.service.js';
import { scimTokenLookup } from '../modules/scim/scim-auth.js';

/** Builds every service with only the dependencies it uses. */
export function createServices(deps: {
  tenancy: Tenancy;
  platformDb: PlatformDb;
  opts: ComposeOptions;
  tenantKeys: { vault: KeyVault; kms: Kms };
  /** The owner role's pool (placement moves), when the server has the owner's credentials. */
  owner?: { pool: pg.Pool; roles: RoleNames };
}) {
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
  const quotaNotices = createQuotaNotices({
    withTenant,
    publicUrl: opts.publicUrl,
    now: opts.quotas?.now,
    log: opts.log,
  });
  const quotaCounters = createQuotaCounters({
    load: (orgId, at) => withTenant(orgId, (db) => quotaUsage(db, orgId, at), { mode: 'read' }),
    refreshMs: opts.quotas?.refreshMs,
    latenessMs: usageSettings(opts.usage).latenessMs,
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
  // One per-recipient mail throttle (a budget per mail kind) for sign-up, verification, reset and
  // invitation mails alike.
  const recipientThrottle = createThrottle('mail.recipient', RECIPIENT_THROTTLE_RULES);
  const ssoPrivileged = createSsoPrivilegedOps(platformDb, opts.log);
  // require-SSO (docs/sso.md): a member's password, social or passkey sign-in for an address of a
  // verified domain.
  const ssoRequiredFor = async (userId: string, email: string) => {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    return domain ? ssoPrivileged.ssoRequiredFor(userId, domain) : null;
  };
  const auth = createAuthService({
    db: platformDb,
    withTenant,
    sessions,
    ssoRequiredFor,
    recipientThrottle,
    publicUrl: opts.publicUrl,
    log: opts.log,
  });
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
  const twoFactor = createTwoFactorService({
    db: platformDb,
    kek: opts.secrets.kek,
    previousKeks: opts.tenantKeys?.kekPrevious ?? [],
    issuer: 'SaaSReady',
    onChanged: (userId) => bus.publish({ kind: 'user', userId }),
  });
  // Passkeys (docs/passkeys.md): the relying party is the public URL's host; ceremonies come from the
  // origins the CSRF check allows.
  const passkeys = createPasskeysService({
    db: platformDb,
    sessions,
    rpId: new URL(opts.publicUrl).hostname,
    rpName: 'SaaSReady',
    origins: normalizeOrigins(opts.allowedOrigins ?? [opts.publicUrl]),
    throttle: createThrottle('passkeys.sign-in', LOGIN_THROTTLE_RULES),
    optionsThrottle: createThrottle('passkeys.options', { ip: { limit: 60, windowMs: 60_000 } }),
    ssoRequiredFor,
    log: opts.log,
  });
  const twoFactorPolicy = createTwoFactorPolicyService({
    withTenant,
    isEnabled: (userId) => twoFactor.isEnabled(userId),
    onRequirementChanged: (orgId) => organizationPolicies.invalidate(orgId),
  });
  const auditSigner = createAuditSigner(opts.secrets.auditKey);
  const audit = createAuditService({
    withTenant,
    signer: auditSigner,
    verifier: createAuditVerifier([
      auditSigner.publicKey,
      ...(opts.auditRetiredKeys ?? []).map((k) => ({ keyId: k.kid, jwk: k.jwk })),
    ]),
    retiredKeys: (opts.auditRetiredKeys ?? []).map((k) => publicKeyOf(k.kid, k.jwk)),
    userKeys,
  });
  const meterCatalog = createMeterCatalog({
    load: async () => (await allMeters(platformDb)).map(toDef),
  });
  const usage = usageSettings(opts.usage);
  const usageEvents = createUsageEventsService({
    withTenant,
    meters: meterCatalog,
    settings: { latenessMs: usage.latenessMs, futureMs: usage.futureMs },
    quotas: quotaCounters,
  });
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
  // GDPR exports (docs/gdpr.md): download links signed with a key derived from the KEK.
  const gdpr = opts.gdpr ?? GDPR_DEFAULTS;
  const exportLinks = createExportLinks(opts.secrets.kek);
  const linkSettings = { links: exportLinks, linkTtlSeconds: gdpr.linkTtlSeconds, publicUrl: opts.publicUrl };
  const organizationExports = createOrganizationExportsService({ withTenant, ...linkSettings });
  const accountExports = createAccountExportsService({ db: platformDb, ...linkSettings });
  // Social sign-in (SOCIAL_PROVIDERS): deployment-wide providers, users and sessions as login makes them.
  const socialSignIn = createSocialSignInService({
    db: platformDb,
    withTenant,
    sessions,
    providers: createSocialProviders(opts.socialSignIn?.providers ?? [], opts.publicUrl),
    publicUrl: opts.publicUrl,
    ssoRequiredFor,
    log: opts.log,
  });
  // SAML sign-in (docs/saml.md): its protocol registers with the SSO core; its consumer URL completes
  // sign-ins through the core's (built below, hence the getter).
  let ssoModule: SsoModule | undefined;
  const saml = createSaml({
    withTenant,
    ssoSignIn: () => ssoModule!.signIn,
    sessions,
    publicUrl: opts.publicUrl,
  });
  return {
    socialSignIn,
    /** Unregisters this composition's platform-chain key store (compose's close). */
    releasePlatformKeys,
    bus,
    audit,
    tenantSealer,
    tenantKeyShredder,
    keyRotation,
    tenantKeys: createTenantKeysService({
      withTenant,
      platformDb,
      vault: deps.tenantKeys.vault,
      rotation: keyRotation,
    }),
    organizationExports,
    accountExports,
    exportDownloads: createExportDownloads({
      links: exportLinks,
      organizations: organizationExports,
      accounts: accountExports,
      permissionsIn: async (orgId, userId) =>
        (await membershipLookup.activeMembership(orgId, userId))?.permissions ?? null,
      admitted: async (orgId) =>
        admitByLifecycle(await organizationPolicies.get(orgId), {
          method: 'GET',
          apiKey: false,
          isPlatformAdmin: false,
          allowWhenBillingSuspended: false,
          // A download is a read: pending deletion admits it without the write flag.
          allowWhenPendingDeletion: false,
        }),
    }),
    meters: createMetersService({ db: platformDb, changed: () => meterCatalog.forget() }),
    usageEvents,
    usageSummary: createUsageSummaryService({ withTenant, meters: meterCatalog }),
    usageRecorder: createUsageRecorder({
      events: usageEvents,
      flushMs: usage.recordFlushMs,
      log: opts.log,
    }),
    quotaCounters,
    apiRequestsQuota: createApiRequestsQuota(quotaCounters),
    quotaNotices,
    platformAudit: createPlatformAuditService({ db: platformDb, userKeys }),
    userKeys,
    erasure: createErasureService({
      db: platformDb,
      withTenant,
      userOrganizations: async (userId, proof) => {
        const ids: string[] = [];
        let after: { name: string; id: string } | null = null;
        for (;;) {
          const rows = await privileged.userOrganizations(userId, proof, { after, limit: 1000 });
          ids.push(...rows.map((r) => r.organizationId));
          if (rows.length < 1000) return ids;
          const last = rows[rows.length - 1]!;
          after = { name: last.name, id: last.organizationId };
        }
      },
      hasher: createPasswordHasher(),
      throttle: createThrottle('account.erase', LOGIN_THROTTLE_RULES),
      twoFactor,
      userKeys,
      userChanged: (userId) => bus.publish({ kind: 'user', userId }),
      membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
      organizationChanged: invalidateOrganization,
      apiKeyRevoked: (keyId) => bus.publish({ kind: 'api_key', keyId }),
      deletionGraceDays: opts.orgDeletionGraceDays ?? 30,
      log: opts.log,
    }),
    membershipLookup,
    organizationPolicies,
    organizationSlugs,
    sessions,
    auth,
    tokens,
    twoFactor,
    twoFactorPolicy,
    passkeys,
    projects: createProjectsService({ withTenant }),
    // Endpoints' signing secrets are sealed with each organization's data key.
    webhooks: createWebhooksService({
      withTenant,
      sealer: tenantSealer,
      settings: webhookSettings(opts.webhooks),
    }),
    invoices: createInvoicesService({ withTenant }),
    // Single sign-on (docs/sso.md): connections, verified domains, OIDC sign-in and JIT provisioning.
    sso: (ssoModule = createSsoModule({
      db: platformDb,
      withTenant,
      sessions,
      sealer: tenantSealer,
      rolePermissions: rolePermissionsIn,
      membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
      seats: seatCheck,
      publicUrl: opts.publicUrl,
      options: { ...opts.sso, protocols: [...(opts.sso?.protocols ?? []), saml.protocol] },
      log: opts.log,
    })),
    saml,
    billingProviders,
    billing,
    // The local provider's scheduled close (run by the job worker, see compose.ts).
    periodCloser: createPeriodCloser({ withTenant, inputs: billingInputs, billing }),
    flags: createFlagsService({
      withTenant,
      cache: flagCache,
      overridesChanged: (orgId) => bus.publish({ kind: 'flag_overrides', orgId }),
    }),
    flagDefinitions: createFlagDefinitionsService({
      db: platformDb,
      definitionsChanged: (how) => bus.publish({ kind: 'flags', deleted: how === 'deleted' }),
    }),
    apiKeys: createApiKeysService({
      withTenant,
      onRevoked: (keyId) => bus.publish({ kind: 'api_key', keyId }),
      onCreated: (keyId) => bus.publish({ kind: 'api_key', keyId }),
    }),
    apiKeyAuth,
    organizations: createOrganizationsService({
      withTenant,
      privileged,
      invalidateOrganization,
      slugClaimed: (slug) => bus.publish({ kind: 'organization_slug', slug }),
      deletionGraceDays: opts.orgDeletionGraceDays ?? 30,
      deletionBlockedByBilling: hasLiveSubscription,
      settingsLink: (slug) => `${opts.publicUrl.replace(/\/+$/, '')}/o/${encodeURIComponent(slug)}/settings`,
      ...(opts.now ? { now: opts.now } : {}),
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
          schemaVersion: latestMigration(),
          invalidate: (orgId) => bus.publish({ kind: 'placement', orgId }),
          settleMs: opts.placementCacheTtlMs ?? 60_000,
          log: opts.log,
        }),
      platformDb,
      log: opts.log,
    }),
    // SCIM 2.0 directory sync (src/modules/scim): tokens resolved per request by a named lookup on the
    // runtime pool; deprovisioning invalidates the membership lookups on every instance (bus).
    scim: {
      tokens: createScimTokensService({ withTenant }),
      users: createScimUsersService({
        withTenant,
        membershipChanged: (orgId, userId) => membershipLookup.invalidate(orgId, userId),
        baseUrl: opts.publicUrl.replace(/\/+$/, ''),
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
    },
    organizationLifecycle: createOrganizationLifecycleService({
      platformDb,
      organizationChanged: invalidateOrganization,
      log: opts.log,
    }),
  };
}

export type Services = ReturnType<typeof createServices>;
