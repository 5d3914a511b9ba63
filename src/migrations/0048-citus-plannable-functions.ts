import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { PLATFORM_SCOPE } from './sql-helpers.js';

/**
 * Issue 14, items 5 and 6 (docs/citus.md, "Functions"): functions Citus can plan once the tenant tables
 * are distributed. Same names, signatures, results, owners and grants (`create or replace`); only the
 * bodies change, restated in full from their latest definitions (0040, 0046, 0014).
 *
 * - Citus cannot plan an SQL-language function with parameters over a distributed table ("could not create
 *   distributed plan ... parameters in SQL functions"); PL/pgSQL plans each query with its parameters
 *   bound and works. The two left reading a tenant table become PL/pgSQL: `app_placement_move_sides`
 *   (placement_moves) and `app_placement_search_path` (tenant_placements; keeps 0046's `pg_temp` last).
 *   The catalog test `citus-functions.test.ts` fails on any new one.
 * - `app_priv_platform_organizations` counted each listed organization's members with a sub-select
 *   correlated to `organizations` (a reference table on Citus) over `memberships` (distributed): Citus
 *   cannot plan that correlation. Now two queries: the page of organizations (reference only), then the
 *   counts of those organizations' active members, grouped by organization_id (one query Citus pushes to
 *   every shard). Same contract and results as 0014.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`create or replace function app_placement_move_sides(p_move uuid)
    returns table (org uuid, src text, dst text, step text, from_kind text, to_kind text, copy_xmin xid8)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin
      return query select m.organization_id,
             case m.from_kind when 'schema' then public.app_tenant_schema_name(m.organization_id) else 'public' end,
             case m.to_kind when 'schema' then public.app_tenant_schema_name(m.organization_id) else 'public' end,
             m.step, m.from_kind, m.to_kind, m.copy_xmin
        from public.placement_moves m where m.id = p_move;
    end $$`.execute(db);

  await sql`create or replace function app_placement_search_path(p_org uuid) returns text
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin
      return 'pg_catalog, ' || coalesce((
        select quote_ident(public.app_tenant_schema_name(p.organization_id)) || ', '
          from public.tenant_placements p where p.organization_id = p_org and p.kind = 'schema'), '')
      || 'public, pg_temp';
    end $$`.execute(db);

  await sql`create or replace function app_priv_platform_organizations(p_after uuid, p_limit integer, p_q text)
    returns table (id uuid, slug text, name text, personal boolean, created_at timestamptz,
                   suspended_at timestamptz, deletion_requested_at timestamptz, members bigint,
                   plan text, attributes jsonb)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid; v_q text; v_ids uuid[]; v_counted uuid[]; v_counts bigint[];
    begin ${sql.raw(PLATFORM_SCOPE('the platform organization list'))}
      if length(p_q) > 100 then
        raise exception 'the organization search is at most 100 characters' using errcode = 'invalid_parameter_value';
      end if;
      v_q := lower(nullif(p_q, ''));
      v_ids := array(select o.id from public.organizations o
          where (p_after is null or o.id < p_after)
            and (v_q is null or strpos(lower(o.name), v_q) > 0 or strpos(lower(o.slug), v_q) > 0)
          order by o.id desc limit least(greatest(p_limit, 1), 200));
      select coalesce(array_agg(c.organization_id), '{}'), coalesce(array_agg(c.n), '{}')
        into v_counted, v_counts
        from (select m.organization_id, count(*) as n from public.memberships m
               where m.organization_id = any (v_ids) and m.status = 'active'
               group by m.organization_id) c;
      return query select o.id, o.slug, o.name, o.personal, o.created_at, o.suspended_at,
                 o.deletion_requested_at, coalesce(v_counts[array_position(v_counted, o.id)], 0),
                 o.plan, o.attributes
          from public.organizations o where o.id = any (v_ids)
          order by o.id desc;
    end $$`.execute(db);
}
