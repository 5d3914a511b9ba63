import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Issue 13, migrations across placements (docs/isolation-models.md "Migrations across placements").
 * `tenant_placements` is under forced RLS with a policy for the runtime role only, so the owner role that
 * runs migrations sees none of its rows; these definer functions are its named way in, and the server's:
 * - `app_migrate_placements()`: every placement that is not pooled (organization, slug, kind, database
 *   key, schema version, schema name), for `npx saasready migrate` and the synchronization at start.
 *   The owner role only.
 * - `app_migrate_record_schema_version(org, version)`: records that an organization's schema was
 *   synchronized to a migration (a schema placement only; the name must look like one). The owner role only.
 * - `app_priv_placements_behind(latest)`: how many schema placements are not synchronized to `latest`, for
 *   `/readyz`: a count, never which organizations (the probe is public). The runtime role, outside any
 *   tenant scope.
 * Names of migrations sort in order (`NNNN-…`), compared bytewise: a schema recorded at a later migration
 * than the running code knows (a rolled back deployment) is not behind.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  await sql`grant update (schema_version) on tenant_placements to ${definer}`.execute(db);
  // /readyz counts the schema placements behind on every probe: over the schema placements only, from
  // the index, not a scan of one row per organization.
  await sql`create index tenant_placements_schema_versions on tenant_placements (organization_id, schema_version)
    where kind = 'schema'`.execute(db);
  await sql`create function app_migrate_placements()
    returns table (organization_id uuid, slug text, kind text, database_key text, schema_version text,
                   schema_name text)
    language sql stable security definer set search_path = pg_catalog, public
    as $$ select p.organization_id, o.slug, p.kind, p.database_key, p.schema_version,
                 case when p.kind = 'schema' then public.app_tenant_schema_name(p.organization_id) end
            from public.tenant_placements p join public.organizations o on o.id = p.organization_id
           where p.kind <> 'pooled'
           order by p.kind, o.slug $$`.execute(db);
  await sql`create function app_migrate_record_schema_version(p_org uuid, p_version text) returns boolean
    language plpgsql volatile security definer set search_path = pg_catalog, public
    as $$ begin
      if p_version is null or p_version !~ '^[0-9]{4}-[a-z0-9-]{1,100}$' then
        raise exception 'app_migrate_record_schema_version must name a migration' using errcode = '22023';
      end if;
      update public.tenant_placements set schema_version = p_version
       where organization_id = p_org and kind = 'schema';
      return found;
    end $$`.execute(db);
  await sql`create function app_priv_placements_behind(p_latest text) returns integer
    language plpgsql stable security definer set search_path = pg_catalog, public
    as $$ begin
      ${sql.raw(OUTSIDE_TENANT_SCOPE('app_priv_placements_behind'))}
      if p_latest is null or p_latest !~ '^[0-9]{4}-[a-z0-9-]{1,100}$' then
        raise exception 'app_priv_placements_behind must name a migration' using errcode = '22023';
      end if;
      return (select count(*)::integer from public.tenant_placements p
               where p.kind = 'schema'
                 and (p.schema_version is null or p.schema_version collate "C" < p_latest collate "C"));
    end $$`.execute(db);
  const grants: [string, string][] = [
    ['app_migrate_placements()', ctx.roles.owner],
    ['app_migrate_record_schema_version(uuid, text)', ctx.roles.owner],
    ['app_priv_placements_behind(text)', ctx.roles.runtime],
  ];
  for (const [fn, role] of grants) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${sql.id(role)}`.execute(db);
  }
}
