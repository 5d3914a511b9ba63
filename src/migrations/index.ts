import type { Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import * as m0001 from './0001-tenancy-core.js';
import * as m0002 from './0002-projects.js';
import * as m0003 from './0003-identity.js';
import * as m0004 from './0004-two-factor.js';
import * as m0005 from './0005-platform.js';
import * as m0006 from './0006-audit.js';
import * as m0007 from './0007-api-keys.js';
import * as m0008 from './0008-feature-flags.js';
import * as m0009 from './0009-narrow-privileges.js';
import * as m0010 from './0010-job-queue-isolation.js';
import * as m0011 from './0011-auth-hardening.js';
import * as m0012 from './0012-review-hardening.js';
import * as m0013 from './0013-user-display-name.js';
import * as m0014 from './0014-platform-organization-search.js';
import * as m0015 from './0015-audit-sealer.js';
import * as m0016 from './0016-audit-write-cost.js';
import * as m0017 from './0017-usage-metering.js';
import * as m0018 from './0018-plans.js';
import * as m0019 from './0019-invoices.js';
import * as m0020 from './0020-quotas.js';
import * as m0021 from './0021-stripe.js';
import * as m0022 from './0022-usage-ingest-cost.js';
import * as m0023 from './0023-period-close.js';
import * as m0024 from './0024-tenant-keys.js';
import * as m0025 from './0025-webhooks.js';
import * as m0026 from './0026-organization-lifecycle.js';
import * as m0027 from './0027-gdpr-export.js';
import * as m0028 from './0028-user-erasure.js';
import * as m0029 from './0029-stripe-review.js';
import * as m0031 from './0031-retention-audit-webhooks.js';
import * as m0032 from './0032-personal-keys-to-vault.js';
import * as m0033 from './0033-issue12-leftovers.js';
import * as m0034 from './0034-stripe-customer-deletions.js';
import * as m0036 from './0036-audit-retention-whole-segments.js';
import * as m0037 from './0037-audit-retention-grace.js';
import * as m0038 from './0038-schema-placements.js';
import * as m0039 from './0039-placement-functions.js';
import * as m0040 from './0040-placement-moves.js';
import * as m0042 from './0042-placement-migrations.js';
import * as m0046 from './0046-placement-paths-pg-temp.js';
import * as m0047 from './0047-global-lookups.js';
import * as m0048 from './0048-citus-plannable-functions.js';
import * as m0050 from './0050-placement-move-freeze.js';
import * as m0053 from './0053-review-lookup-and-platform-list.js';
import * as m0054 from './0054-citus-billing-scan.js';
import * as m0055 from './0055-sso.js';
import * as m0056 from './0056-saml.js';
import * as m0057 from './0057-scim.js';
import * as m0058 from './0058-social-identities.js';
import * as m0059 from './0059-passkeys.js';
import * as m0060 from './0060-platform-placements.js';
import * as m0061 from './0061-placed-tables-definer-grants.js';
import * as m0062 from './0062-sso-gaps.js';
import * as m0063 from './0063-usage-unique-values.js';
import * as m0065 from './0065-password-reset-job.js';
import * as m0066 from './0066-audit-write-cost-again.js';
import * as m0067 from './0067-erasure-directory-organizations.js';
import * as m0068 from './0068-audit-retention-cut-age.js';
import * as m0069 from './0069-audit-signed-retention.js';
import * as m0070 from './0070-audit-seal-many.js';
import * as m0071 from './0071-tenant-commit-decisions.js';
import * as m0073 from './0073-flag-override-identity.js';
import * as m0074 from './0074-tenant-database-quota-notices.js';
import * as m0075 from './0075-erasure-tenant-directories.js';
import * as m0076 from './0076-placement-moves-database.js';
import * as m0077 from './0077-tenant-database-audit-retention.js';
import * as m0078 from './0078-placement-moves-out.js';

export interface MigrationModule {
  up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void>;
}

/** Every migration, in order. Names are permanent once released. */
export const migrations: ReadonlyArray<readonly [name: string, module: MigrationModule]> = [
  ['0001-tenancy-core', m0001],
  ['0002-projects', m0002],
  ['0003-identity', m0003],
  ['0004-two-factor', m0004],
  ['0005-platform', m0005],
  ['0006-audit', m0006],
  ['0007-api-keys', m0007],
  ['0008-feature-flags', m0008],
  ['0009-narrow-privileges', m0009],
  ['0010-job-queue-isolation', m0010],
  ['0011-auth-hardening', m0011],
  ['0012-review-hardening', m0012],
  ['0013-user-display-name', m0013],
  ['0014-platform-organization-search', m0014],
  ['0015-audit-sealer', m0015],
  ['0016-audit-write-cost', m0016],
  ['0017-usage-metering', m0017],
  ['0018-plans', m0018],
  ['0019-invoices', m0019],
  ['0020-quotas', m0020],
  ['0021-stripe', m0021],
  ['0022-usage-ingest-cost', m0022],
  ['0023-period-close', m0023],
  ['0024-tenant-keys', m0024],
  ['0025-webhooks', m0025],
  ['0026-organization-lifecycle', m0026],
  ['0027-gdpr-export', m0027],
  ['0028-user-erasure', m0028],
  ['0029-stripe-review', m0029],
  ['0031-retention-audit-webhooks', m0031],
  ['0032-personal-keys-to-vault', m0032],
  ['0033-issue12-leftovers', m0033],
  ['0034-stripe-customer-deletions', m0034],
  ['0036-audit-retention-whole-segments', m0036],
  ['0037-audit-retention-grace', m0037],
  ['0038-schema-placements', m0038],
  ['0039-placement-functions', m0039],
  ['0040-placement-moves', m0040],
  ['0042-placement-migrations', m0042],
  ['0046-placement-paths-pg-temp', m0046],
  ['0047-global-lookups', m0047],
  ['0048-citus-plannable-functions', m0048],
  ['0050-placement-move-freeze', m0050],
  ['0053-review-lookup-and-platform-list', m0053],
  ['0054-citus-billing-scan', m0054],
  ['0055-sso', m0055],
  ['0056-saml', m0056],
  ['0057-scim', m0057],
  ['0058-social-identities', m0058],
  ['0059-passkeys', m0059],
  ['0060-platform-placements', m0060],
  ['0061-placed-tables-definer-grants', m0061],
  ['0062-sso-gaps', m0062],
  ['0063-usage-unique-values', m0063],
  ['0065-password-reset-job', m0065],
  ['0066-audit-write-cost-again', m0066],
  ['0067-erasure-directory-organizations', m0067],
  ['0068-audit-retention-cut-age', m0068],
  ['0069-audit-signed-retention', m0069],
  ['0070-audit-seal-many', m0070],
  ['0071-tenant-commit-decisions', m0071],
  ['0073-flag-override-identity', m0073],
  ['0074-tenant-database-quota-notices', m0074],
  ['0075-erasure-tenant-directories', m0075],
  ['0076-placement-moves-database', m0076],
  ['0077-tenant-database-audit-retention', m0077],
  ['0078-placement-moves-out', m0078],
];
