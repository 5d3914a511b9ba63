/**
 * PL/pgSQL snippets of migration 0039 (schema placements in the definer's functions). Like sql-helpers.ts,
 * frozen once landed: a later migration adds new ones rather than changing these.
 */

/**
 * Inside a tenant scope: the caller's placed tables resolve, unqualified, to its organization's schema
 * (`pg_catalog, "t_…", public`) or to `public` (a pooled organization). The schema comes from
 * `tenant_placements`, never from the caller; the function's own `set search_path` restores its path on
 * exit.
 */
export const TENANT_PATH = `
      perform set_config('search_path', public.app_placement_search_path(public.app_current_tenant()), true);`;

/** The search path of one organization's placed tables (a cross-tenant function working per organization). */
export const ORG_PATH = (org: string) => `
        perform set_config('search_path', public.app_placement_search_path(${org}), true);`;

/** The search path of one schema of `app_placement_schemas()` (a cross-tenant scan, schema by schema). */
export const SCHEMA_PATH = (schema: string) => `
        perform set_config('search_path', 'pg_catalog, ' || quote_ident(${schema}) || ', public', true);`;

/**
 * The organizations whose placed tables are in a schema of their own that exists (the others' are in
 * `public`): a cross-tenant scan of directory rows (organizations, stripe_customers) that checks placed
 * tables per organization visits `public` for all but these, then each of these in its own schema.
 */
export const SCHEMA_ORGS = `array(select p.organization_id from public.tenant_placements p
          where p.kind = 'schema'
            and public.app_tenant_schema_name(p.organization_id) in (select public.app_placement_schemas()))`;
