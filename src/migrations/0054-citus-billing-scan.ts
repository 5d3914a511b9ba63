import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';
import { SCHEMA_ORGS } from './0039-placement-functions/snippets.js';

/**
 * The period close scan (`worker_api.app_priv_billing_organizations`, 0023, made placement-aware in 0039,
 * `pg_temp` last in 0046) filtered `organizations` (a reference table on Citus) with `not exists`
 * sub-selects over `invoices` and `organization_plan_changes` (distributed) correlated on `o.id`: Citus
 * refuses that form ("correlated subqueries are not supported when the FROM clause contains a reference
 * table"), the one 0048 and 0053 took out of the platform organization lists. Found by the review of
 * issue 14. Now the candidates come from `organizations` alone, in id order, and each one's invoices and
 * plan changes are checked by a query naming its organization (one shard on Citus), until a page is full.
 * Same signature, owner, grants, results and order; the search paths are 0046's. The cost on plain
 * PostgreSQL: a few index probes per organization scanned instead of one anti-join, for a scan that runs
 * once per period close in the background. Restated in full (a PL/pgSQL body cannot be patched in place).
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`create or replace function worker_api.app_priv_billing_organizations(p_cutoff date, p_after uuid,
      p_limit integer)
    returns table (organization_id uuid, starts_on date)
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    declare
      v_start date;
      v_month date := date_trunc('month', p_cutoff)::date;
      v_year date := date_trunc('year', p_cutoff)::date;
      v_limit integer := least(greatest(p_limit, 1), 1000);
      v_placed uuid[]; v_org uuid; v_ids uuid[] := '{}';
      v_cand uuid; v_plan text; v_found integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the period close scan'))}
      select s.starts_on into v_start from public.billing_close_start s;
      if v_start is null or v_month <= v_start then
        return;
      end if;
      v_placed := ${sql.raw(SCHEMA_ORGS)};
      -- null: every organization in public; then each one with a schema of its own.
      for v_org in select null::uuid union all select unnest(v_placed) loop
        perform set_config('search_path', case when v_org is null then 'pg_catalog, public, pg_temp'
          else public.app_placement_search_path(v_org) end, true);
        v_found := 0;
        for v_cand, v_plan in select o.id, o.plan from public.organizations o
            where (case when v_org is null then not (o.id = any (v_placed)) else o.id = v_org end)
              and o.created_at < (v_month::timestamp at time zone 'UTC')
              and (p_after is null or o.id > p_after)
            order by o.id loop
          -- Each check names its organization: routed to one shard on Citus.
          continue when exists (select 1 from invoices i
            where i.organization_id = v_cand and i.period_end = v_month);
          continue when exists (select 1 from public.plans p where p.key = v_plan and p.price->>'interval' = 'year')
            and exists (select 1 from invoices i where i.organization_id = v_cand and i.period_end = v_year)
            and not exists (select 1 from organization_plan_changes c
              where c.organization_id = v_cand and c.changed_at >= (v_year::timestamp at time zone 'UTC'));
          v_ids := v_ids || v_cand;
          v_found := v_found + 1;
          exit when v_found >= v_limit;
        end loop;
      end loop;
      return query select u.id, v_start from unnest(v_ids) u (id) order by u.id limit v_limit;
    end $$`.execute(db);
}
