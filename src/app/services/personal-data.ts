import { admitByLifecycle } from '../../modules/tenant-resolution/organization-policy.js';
import { GDPR_DEFAULTS } from '../../platform/config-gdpr.js';
import { createExportLinks } from '../../modules/gdpr/export-link.js';
import { createOrganizationExportsService } from '../../modules/gdpr/organization-exports.service.js';
import { createAccountExportsService } from '../../modules/gdpr/account-exports.service.js';
import { createExportDownloads } from '../../modules/gdpr/export-download.js';
import { createErasureService } from '../../modules/account-erasure/erasure.service.js';
import { createPasswordHasher } from '../../modules/auth/passwords.js';
import { createThrottle, LOGIN_THROTTLE_RULES } from '../../modules/auth/throttle.js';
import type { TwoFactorService } from '../../modules/two-factor/two-factor.service.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** The people's data rights (docs/gdpr.md): organization and account exports, their downloads, erasure. */
export function createPersonalData(deps: ServiceDeps, caches: Caches, twoFactor: TwoFactorService) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant, privileged } = tenancy;
  const { bus, userKeys, membershipLookup, organizationPolicies, invalidateOrganization } = caches;
  // GDPR exports (docs/gdpr.md): download links signed with a key derived from the KEK.
  const gdpr = opts.gdpr ?? GDPR_DEFAULTS;
  const exportLinks = createExportLinks(opts.secrets.kek);
  const linkSettings = { links: exportLinks, linkTtlSeconds: gdpr.linkTtlSeconds, publicUrl: opts.publicUrl };
  const organizationExports = createOrganizationExportsService({ withTenant, ...linkSettings });
  const accountExports = createAccountExportsService({ db: platformDb, ...linkSettings });
  return {
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
      tenantDatabases: Object.keys(opts.tenantDatabases?.databases ?? {}),
      log: opts.log,
    }),
  };
}
