import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Issue 11, quota enforcement (src/modules/quotas).
 *
 * `quota_notices`: one row per mail-worthy threshold an organization reached, unique per (organization,
 * meter, period, period start, threshold): the row is inserted with `ON CONFLICT DO NOTHING` in the same
 * transaction that queues the owners' mails, so each threshold is mailed once per period however many
 * aggregator runs (on however many instances) see it. The runtime role may insert and read; a notice is
 * never changed or deleted by it (append-only).
 *
 * `worker_api.app_usage_changed_organizations(from, to, since)`: the organizations that have events in
 * an aggregation range, each with the UTC days those events fall in, so the notices after a run look at
 * the periods the run changed (not only today's); organizations whose plan has no quotas are left out.
 * Worker role only, refused inside a tenant scope (it answers for every organization).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);

  await createTenantTable(db, ctx, {
    name: 'quota_notices',
    columns: `id uuid not null,
      meter text not null check (meter ~ '^[a-z][a-z0-9_.-]{0,63}$'),
      period text not null check (period in ('day', 'month')),
      period_start timestamptz not null,
      threshold smallint not null check (threshold in (80, 100)),
      enforcement text not null check (enforcement in ('hard', 'soft')),
      quota_limit bigint not null check (quota_limit >= 0),
      usage numeric not null,
      created_at timestamptz not null default now()`,
    primaryKey: ['id'],
    appendOnly: true,
  });
  await sql`create unique index quota_notices_once on quota_notices
    (organization_id, meter, period, period_start, threshold)`.execute(db);

  await sql`create function worker_api.app_usage_changed_organizations(p_from xid8, p_to xid8,
      p_since timestamptz)
    returns table (org_id uuid, day_start timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_from bigint := p_from::text::bigint; v_to bigint := p_to::text::bigint;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the usage change list'))}
      return query select distinct e.organization_id, date_trunc('day', e.occurred_at, 'UTC')
        from public.usage_events e
          join public.organizations o on o.id = e.organization_id
          join public.plans p on p.key = o.plan
        where e.xid >= v_from and e.xid < v_to and e.occurred_at >= p_since
          and jsonb_typeof(p.quotas) = 'array' and jsonb_array_length(p.quotas) > 0;
    end $$`.execute(db);
  const fn = 'worker_api.app_usage_changed_organizations(xid8, xid8, timestamptz)';
  await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
}
