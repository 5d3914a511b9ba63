import type { Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { auditFunctions } from './0039-placement-functions/audit.js';
import { retentionFunctions } from './0039-placement-functions/retention.js';
import { scanFunctions } from './0039-placement-functions/scans.js';
import { tenantScopeFunctions } from './0039-placement-functions/tenant-scope.js';
import { usageFunctions } from './0039-placement-functions/usage.js';

/**
 * Issue 13: the SECURITY DEFINER functions that touch placed tables act on the right schema (0038's
 * vocabulary, docs/isolation-models.md). Each is re-created with `create or replace`: same signature,
 * owner, grants, contract and refusals; only where its placed tables are changes.
 *
 * - Inside a tenant scope (the sealer, invoice finalization): the function's pinned `search_path` is
 *   replaced, transaction-locally until it returns, by the organization's placement path, and the placed
 *   tables are named unqualified (a `public.` qualifier would ignore it); directory and global tables stay
 *   `public.`-qualified.
 * - Cross-tenant worker functions loop over `app_placement_schemas()`, setting the search path per
 *   schema, or per organization where they work per organization; pages and cursors are the same
 *   whichever schema an organization's rows are in.
 *
 * PL/pgSQL's cached plans are re-planned when the search path they were planned under changes, so a
 * statement run in one schema never reads another's table through a stale plan.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await auditFunctions(db);
  await tenantScopeFunctions(db);
  await usageFunctions(db, ctx);
  await retentionFunctions(db);
  await scanFunctions(db);
}
