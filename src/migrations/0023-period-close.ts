import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Issue 11, the local provider closes each period itself (src/modules/billing/period-close.ts).
 *
 * `billing_close_start`: the UTC day this migration ran. The scheduled close issues only invoices of periods
 * that end after it, so a deployment that never issued invoices does not bill its organizations' past
 * periods at today's prices and members (a backfill is an explicit `closePeriod`). One row; only the definer
 * role reads it (the owner may move it, docs/billing.md).
 *
 * `worker_api.app_priv_billing_organizations(cutoff, after, limit)`: the hourly job must name the
 * organizations that may have a period to close, and no existing path enumerates them (the checkpoint scan
 * names only organizations whose audit chain moved, the seal sweep only those with pending events). Worker
 * role, in `worker_api` like the others, ids only (with the start day), by id, at most 1,000 a page, refused
 * inside a tenant scope. It leaves out, cheaply and conservatively, organizations with nothing to do: none at
 * all while no month boundary lies between the start day and the cutoff; those created on or after the last
 * month boundary up to the cutoff (their first period has not ended); those with an invoice (any status)
 * ending on that boundary (the last closable monthly period); and those on a yearly plan with an invoice
 * ending on the last year boundary and no plan change since. Which periods to close is then decided inside
 * each organization's own tenant scope, by the runtime role.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);

  await sql`create table billing_close_start (
    singleton boolean primary key default true check (singleton),
    starts_on date not null
  )`.execute(db);
  await sql`insert into billing_close_start (singleton, starts_on)
    values (true, (now() at time zone 'UTC')::date)`.execute(db);
  await sql`revoke all on billing_close_start from public`.execute(db);
  await sql`grant select on billing_close_start to ${definer}`.execute(db);
  await sql`grant select (organization_id, changed_at) on organization_plan_changes to ${definer}`.execute(
    db,
  );

  await sql`create function worker_api.app_priv_billing_organizations(p_cutoff date, p_after uuid,
      p_limit integer)
    returns table (organization_id uuid, starts_on date)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    declare
      v_start date;
      v_month date := date_trunc('month', p_cutoff)::date;
      v_year date := date_trunc('year', p_cutoff)::date;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the period close scan'))}
      select s.starts_on into v_start from public.billing_close_start s;
      if v_start is null or v_month <= v_start then
        return;
      end if;
      return query select o.id, v_start from public.organizations o
        where o.created_at < (v_month::timestamp at time zone 'UTC')
          and (p_after is null or o.id > p_after)
          and not exists (select 1 from public.invoices i
            where i.organization_id = o.id and i.period_end = v_month)
          and not (
            exists (select 1 from public.plans p where p.key = o.plan and p.price->>'interval' = 'year')
            and exists (select 1 from public.invoices i
              where i.organization_id = o.id and i.period_end = v_year)
            and not exists (select 1 from public.organization_plan_changes c
              where c.organization_id = o.id and c.changed_at >= (v_year::timestamp at time zone 'UTC')))
        order by o.id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);
  const fn = 'worker_api.app_priv_billing_organizations(date, uuid, integer)';
  await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
}
