import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE, PLATFORM_SCOPE } from './sql-helpers.js';

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
 *
 * Issue 14, item 3: no behaviour in triggers of tenant tables (Citus refuses triggers on distributed
 * tables). `stripe_customers_deleted` (0034) recorded a deleted Stripe customer for its deletion in
 * Stripe; only the organization purge deletes `stripe_customers` rows (a directory table: `public` only),
 * so the purge now records them itself, in the statement that deletes them, and the trigger is dropped.
 * `worker_api.app_priv_deletion_purge` is restated from 0039 with only that change.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`create or replace function worker_api.app_priv_deletion_purge(p_org uuid, p_limit integer)
    returns table (table_name text, deleted bigint)
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_phase text; r record; v_with oid[] := '{}'; v_target oid; v_has boolean; v_n bigint;
      v_schema text := public.app_tenant_schema_name(p_org); v_key text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the organization purge'))}
      select d.phase into v_phase from public.organization_deletions d where d.id = p_org for update;
      if v_phase is distinct from 'purging' then
        raise exception 'organization % is not being purged (phase %)', p_org, v_phase
          using errcode = 'object_not_in_prerequisite_state';
      end if;
      perform set_config('app.purging_organization', p_org::text, true);
      for r in select c.oid from pg_class c
          join pg_namespace n on n.oid = c.relnamespace
          join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and a.attnum > 0
            and not a.attisdropped
         where c.relkind in ('r', 'p') and not c.relispartition
           and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
           and (n.nspname !~ '^t_[0-9a-f]{32}$' or n.nspname = v_schema)
         order by n.nspname, c.relname loop
        execute format('select exists (select 1 from %s where organization_id = $1)', r.oid::regclass)
          into v_has using p_org;
        if v_has then v_with := v_with || r.oid; end if;
      end loop;
      if cardinality(v_with) = 0 then
        delete from public.organizations o where o.id = p_org;
        get diagnostics v_n = row_count;
        update public.organization_deletions d set phase = 'shredding',
            row_counts = d.row_counts || jsonb_build_object('organizations', v_n)
          where d.id = p_org;
        return query select 'organizations'::text, v_n;
        return;
      end if;
      select t into v_target from unnest(v_with) t
        where not exists (select 1 from pg_constraint k where k.contype = 'f' and k.confrelid = t
                           and k.conrelid <> t and k.conrelid = any (v_with))
        limit 1;
      if v_target is null then
        raise exception 'the tenant tables holding rows of % reference each other in a cycle', p_org
          using errcode = 'foreign_key_violation';
      end if;
      if v_target = 'public.stripe_customers'::regclass then
        -- The customers deleted are recorded for their deletion in Stripe in the same statement (was the
        -- trigger stripe_customers_deleted, migration 0034): a crash keeps both or neither.
        execute format('with gone as (delete from %1$s where organization_id = $1 and (tableoid, ctid) in
            (select tableoid, ctid from %1$s where organization_id = $1 limit $2)
            returning customer_id, organization_id),
          recorded as (insert into public.stripe_customer_deletions (customer_id, deleted_organization_id)
            select g.customer_id, g.organization_id from gone g on conflict (customer_id) do nothing)
          select count(*) from gone', v_target::regclass)
          into v_n using p_org, least(greatest(p_limit, 1), 100000);
      else
        execute format('delete from %1$s where organization_id = $1 and (tableoid, ctid) in
            (select tableoid, ctid from %1$s where organization_id = $1 limit $2)', v_target::regclass)
          using p_org, least(greatest(p_limit, 1), 100000);
        get diagnostics v_n = row_count;
      end if;
      select case when n.nspname = v_schema then c.relname::text else v_target::regclass::text end into v_key
        from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = v_target;
      update public.organization_deletions d
        set row_counts = jsonb_set(d.row_counts, array[v_key],
              to_jsonb(coalesce((d.row_counts ->> v_key)::bigint, 0) + v_n))
        where d.id = p_org;
      return query select v_key, v_n;
    end $$`.execute(db);
  await sql`drop trigger stripe_customers_deleted on stripe_customers`.execute(db);
  await sql`drop function app_stripe_customer_deleted()`.execute(db);

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
