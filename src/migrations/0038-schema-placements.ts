import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 13, schema placements: the shared vocabulary every part of them uses (docs/isolation-models.md).
 *
 * - `app_tenant_schema_name(org)`: the one name of an organization's own schema, `t_<its uuid in 32 hex>`:
 *   derived, never stored or sent by a client, so no schema name is ever built from input.
 * - `tenant_placements.state`: `active`, or `moving` while an online move runs (requests of a moving
 *   organization take the guarded path, src/platform/tenancy/placement.ts); `schema_version`: the last
 *   migration the organization's schema was synchronized to (`npx saasready migrate`).
 * - `app_placement_search_path(org)`: the search path of the organization's tables, `pg_catalog, t_…, public`
 *   for a schema placement, `pg_catalog, public` otherwise. SECURITY DEFINER functions that write or read a
 *   tenant's placed tables inside its scope set it first (their own `set search_path` clause restores theirs
 *   on exit), so the schema comes from `tenant_placements`, never from the caller.
 * - `app_placement_schemas()`: `public` then the schema of every schema placement that exists: what a
 *   cross-tenant worker function loops over.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  await sql`alter table tenant_placements
      add column state text not null default 'active' check (state in ('active', 'moving')),
      add column schema_version text`.execute(db);
  await sql`create function app_tenant_schema_name(p_org uuid) returns text
    language sql immutable strict parallel safe set search_path = pg_catalog
    as $$ select 't_' || replace(p_org::text, '-', '') $$`.execute(db);
  await sql`create function app_placement_search_path(p_org uuid) returns text
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select 'pg_catalog, ' || coalesce((
        select quote_ident(public.app_tenant_schema_name(p.organization_id)) || ', '
          from public.tenant_placements p where p.organization_id = p_org and p.kind = 'schema'), '')
      || 'public' $$`.execute(db);
  await sql`create function app_placement_schemas() returns setof text
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select 'public'::text union all (
        select s from (select public.app_tenant_schema_name(p.organization_id) as s
                         from public.tenant_placements p where p.kind = 'schema') x
         where exists (select 1 from pg_namespace n where n.nspname = x.s) order by 1) $$`.execute(db);
  await sql`alter function app_placement_search_path(uuid) owner to ${definer}`.execute(db);
  await sql`alter function app_placement_schemas() owner to ${definer}`.execute(db);
  // Helpers of the definer's own functions (tenant-scope writes and the worker's scans, which run as the
  // definer): nobody else may call them.
  for (const fn of [
    'app_tenant_schema_name(uuid)',
    'app_placement_search_path(uuid)',
    'app_placement_schemas()',
  ]) {
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
  }
  await sql`grant execute on function app_tenant_schema_name(uuid) to ${definer}`.execute(db);
}
