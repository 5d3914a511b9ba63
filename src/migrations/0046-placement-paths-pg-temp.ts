import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * The placement search paths that 0039's functions set name `pg_temp` LAST. A search path that does not
 * name it searches the session's temporary schema FIRST for relations, so inside these SECURITY DEFINER
 * functions (the definer bypasses row security) a temporary table of the caller's session named like a
 * placed table stood in for it: rows fed to a scan, a sweep or a purge. The runtime and worker roles may
 * create no temporary table, but the owner role may and, a member of the definer's, may call them all;
 * 0017's functions had pinned `pg_catalog, public, pg_temp` for this very reason, and 0039's per-schema
 * path replaced theirs.
 *
 * - `app_placement_search_path(org)` (every tenant-scope and per-organization path) now ends in `pg_temp`.
 * - The functions setting a per-schema path inline (0039's SCHEMA_PATH) or `public`'s (the period close
 *   and Stripe scans) are re-created from their own definitions with `pg_temp` appended: owner, grants,
 *   settings and bodies otherwise unchanged. Each must contain the text replaced (a mismatch fails the
 *   migration instead of leaving one behind).
 */
const SCHEMA_PATH_FUNCTIONS = [
  'worker_api.app_priv_audit_orgs_pending(uuid, integer)',
  'worker_api.app_priv_audit_chains_to_checkpoint(text, uuid, integer)',
  'worker_api.app_retention_purge(text, timestamptz, integer)',
  'worker_api.app_retention_purge_webhooks(text, timestamptz, integer)',
  'worker_api.app_usage_purge_keys(timestamptz, integer)',
  'worker_api.app_usage_changed_organizations(xid8, xid8, timestamptz)',
  'worker_api.app_usage_aggregate_apply(xid8, xid8, timestamptz)',
  'worker_api.app_priv_webhook_stuck_deliveries(timestamptz, integer)',
  'worker_api.app_priv_account_export_rows(uuid, text, uuid, bigint, integer)',
];
const PUBLIC_PATH_FUNCTIONS = [
  'worker_api.app_priv_billing_organizations(date, uuid, integer)',
  'worker_api.app_priv_stripe_organizations(text, timestamptz, uuid, integer)',
];

export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`create or replace function app_placement_search_path(p_org uuid) returns text
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select 'pg_catalog, ' || coalesce((
        select quote_ident(public.app_tenant_schema_name(p.organization_id)) || ', '
          from public.tenant_placements p where p.organization_id = p_org and p.kind = 'schema'), '')
      || 'public, pg_temp' $$`.execute(db);
  const rewrite = async (fn: string, from: string, to: string) => {
    const res = await sql<{ def: string }>`select pg_get_functiondef(${fn}::regprocedure) as def`.execute(db);
    const def = res.rows[0]?.def ?? '';
    if (!def.includes(from)) throw new Error(`0046: ${fn} does not set the path this migration amends`);
    await sql.raw(def.replaceAll(from, to)).execute(db);
  };
  for (const fn of SCHEMA_PATH_FUNCTIONS) {
    await rewrite(fn, "|| ', public', true)", "|| ', public, pg_temp', true)");
  }
  for (const fn of PUBLIC_PATH_FUNCTIONS) {
    await rewrite(fn, "then 'pg_catalog, public'", "then 'pg_catalog, public, pg_temp'");
  }
}
