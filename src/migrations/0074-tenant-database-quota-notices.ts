import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Quota notices of organizations in a `database` placement (docs/isolation-models.md, "Usage
 * aggregation"). A tenant database's aggregator listed the organizations to check with
 * `app_usage_changed_organizations`, which keeps those whose plan has quotas, read from THAT database:
 * the organization row's copy there (its plan is whatever it was placed with, never kept in step) and the
 * plans as that database was seeded, while an organization's plan and the plan catalog are the control
 * database's. Now:
 *
 * - `worker_api.app_usage_changed_any_plan(from, to, since)`: the organizations with events in the
 *   aggregation range and the UTC days of those events, whatever their plan (the same scan, schema by
 *   schema, without the plans join). A tenant database's aggregator calls it.
 * - `worker_api.app_priv_quota_organizations(orgs)`: which of these organizations have a plan with quotas,
 *   read from the control database's organizations and plans (at most 10000 ids a call). The notices'
 *   scheduling of a tenant database's changes keeps those.
 *
 * Both outside any tenant scope, the worker role's only; `pg_temp` last on every path (0046).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  await sql`create function worker_api.app_usage_changed_any_plan(p_from xid8, p_to xid8, p_since timestamptz)
    returns table (org_id uuid, day_start timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_from bigint := p_from::text::bigint; v_to bigint := p_to::text::bigint; v_schema text;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage change list'))}
      for v_schema in select public.app_placement_schemas() loop
        perform set_config('search_path', 'pg_catalog, ' || quote_ident(v_schema) || ', public, pg_temp', true);
        return query select distinct e.organization_id, date_trunc('day', e.occurred_at, 'UTC')
          from usage_events e
          where e.xid >= v_from and e.xid < v_to and e.occurred_at >= p_since;
      end loop;
    end $$`.execute(db);
  await sql`create function worker_api.app_priv_quota_organizations(p_orgs uuid[])
    returns table (org_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public, pg_temp as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the quota organizations lookup'))}
      if cardinality(p_orgs) > 10000 then
        raise exception 'at most 10000 organizations a call' using errcode = 'program_limit_exceeded';
      end if;
      return query select o.id from public.organizations o
          join public.plans p on p.key = o.plan
        where o.id = any (p_orgs) and jsonb_typeof(p.quotas) = 'array' and jsonb_array_length(p.quotas) > 0
        order by o.id;
    end $$`.execute(db);
  for (const fn of [
    'worker_api.app_usage_changed_any_plan(xid8, xid8, timestamptz)',
    'worker_api.app_priv_quota_organizations(uuid[])',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  }
}
