import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Issue 11, the Stripe billing provider (docs/billing.md, "Stripe").
 * - `stripe_customers` (tenant): the organization's Stripe customer (one each, a customer id belongs to one
 *   organization), its current subscription and when it started (usage is pushed from then on), the
 *   billing state the webhooks keep: status, the `created` time of the last event that set the status and
 *   of the last subscription event applied (separate orders: a late plan change is not lost behind a newer
 *   invoice), the end of a past-due grace period, whether the suspension is billing's, and the one open
 *   Checkout session (a new one expires it).
 * - `organizations.suspended_by`: who suspended it (`billing` or `administrator`).
 * - `stripe_meter_pushes` (tenant): the ledger of usage pushed as Stripe meter events, per subscription,
 *   one row per push with its deterministic identifier and `created_at` (the event's timestamp: every
 *   send of a row carries the same parameters), written `pending` before the send and `sent` after it;
 *   failed sends count `attempts` and keep `last_error`.
 * - `stripe_events` (global): every webhook event id, inserted in the transaction of its effects, so an
 *   event is applied once (a duplicate's insert conflicts, or waits for the first and then conflicts).
 * - `app_priv_stripe_organization_by_customer`: the webhook route has no tenant: which organization a
 *   customer id belongs to, from the stored mapping only. Outside any tenant scope.
 * - `worker_api.app_priv_stripe_organizations(kind, now, after, limit)`: the worker's scheduled jobs:
 *   organizations whose grace period ended unsuspended (`grace_expired`) or that have a subscription or a
 *   pending push (`subscribed`, the meter push). Ids only, outside any tenant scope.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  if (!ROLE.test(ctx.roles.definer)) throw new Error(`invalid definer role name: ${ctx.roles.definer}`);

  await createTenantTable(db, ctx, {
    name: 'stripe_customers',
    columns: `customer_id text not null check (customer_id ~ '^[A-Za-z0-9_]{1,255}$'),
      subscription_id text check (char_length(subscription_id) between 1 and 255),
      subscription_started_at timestamptz,
      status text not null default 'none' check (status in ('none', 'active', 'past_due', 'canceled')),
      status_event_at timestamptz,
      subscription_event_at timestamptz,
      grace_ends_at timestamptz,
      suspended_by_billing boolean not null default false,
      checkout_session_id text check (checkout_session_id ~ '^[A-Za-z0-9_]{1,255}$'),
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      check ((status = 'past_due') = (grace_ends_at is not null)),
      check ((subscription_id is null) = (subscription_started_at is null))`,
    primaryKey: [],
  });
  await sql`create unique index stripe_customers_customer_key on stripe_customers (customer_id)`.execute(db);
  // Partial: the grace-expiry scan reads only organizations in a grace period.
  await sql`create index stripe_customers_grace on stripe_customers (grace_ends_at)
    where status = 'past_due' and not suspended_by_billing`.execute(db);
  await sql`revoke all on stripe_customers from ${runtime}`.execute(db);
  await sql`grant select, insert, update on stripe_customers to ${runtime}`.execute(db);

  await createTenantTable(db, ctx, {
    name: 'stripe_meter_pushes',
    columns: `identifier text not null check (char_length(identifier) between 1 and 100),
      subscription_id text not null check (char_length(subscription_id) between 1 and 255),
      meter text not null,
      event_name text not null check (char_length(event_name) between 1 and 100),
      customer_id text not null,
      value numeric not null check (value > 0),
      total_after numeric not null check (total_after > 0),
      status text not null default 'pending' check (status in ('pending', 'sent')),
      created_at timestamptz not null default now(),
      sent_at timestamptz,
      attempts integer not null default 0 check (attempts >= 0),
      last_error text check (char_length(last_error) <= 500),
      check ((status = 'sent') = (sent_at is not null))`,
    primaryKey: ['identifier'],
  });
  await sql`create unique index stripe_meter_pushes_total on stripe_meter_pushes
    (organization_id, subscription_id, meter, total_after)`.execute(db);
  // Pushes are appended and marked sent, never deleted or rewritten otherwise.
  await sql`revoke all on stripe_meter_pushes from ${runtime}`.execute(db);
  await sql`grant select, insert on stripe_meter_pushes to ${runtime}`.execute(db);
  await sql`grant update (status, sent_at, attempts, last_error) on stripe_meter_pushes to ${runtime}`.execute(
    db,
  );
  // Who suspended an organization: a payment lifts only billing's suspension, and only billing's lets
  // owners reach the routes that pay (docs/billing.md). Suspensions before this migration were the
  // administrators' (the only ones there were).
  await sql`alter table organizations add column suspended_by text
    check (suspended_by in ('billing', 'administrator'))`.execute(db);
  await sql`update organizations set suspended_by = 'administrator' where suspended_at is not null`.execute(
    db,
  );

  await sql`create table stripe_events (
    id text primary key check (id ~ '^[A-Za-z0-9_]{1,255}$'),
    type text not null check (char_length(type) between 1 and 100),
    event_created timestamptz not null,
    outcome text not null check (char_length(outcome) between 1 and 100),
    received_at timestamptz not null default now()
  )`.execute(db);
  await sql`revoke all on stripe_events from public`.execute(db);
  await sql`grant select, insert on stripe_events to ${runtime}`.execute(db);

  // The definer functions below read the mapping (the definer bypasses RLS, not privileges).
  await sql`grant select (organization_id, customer_id, subscription_id, status, grace_ends_at,
    suspended_by_billing) on stripe_customers to ${definer}`.execute(db);
  await sql`grant select (organization_id, status) on stripe_meter_pushes to ${definer}`.execute(db);

  await sql`create function app_priv_stripe_organization_by_customer(p_customer text) returns uuid
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the Stripe customer lookup'))}
      return (select c.organization_id from public.stripe_customers c where c.customer_id = p_customer);
    end $$`.execute(db);
  await sql`alter function app_priv_stripe_organization_by_customer(text) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_priv_stripe_organization_by_customer(text) from public`.execute(db);
  await sql`grant execute on function app_priv_stripe_organization_by_customer(text) to ${runtime}`.execute(
    db,
  );

  await sql`create function worker_api.app_priv_stripe_organizations(p_kind text, p_now timestamptz,
      p_after uuid, p_limit integer)
    returns table (organization_id uuid)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the Stripe organization scan'))}
      if p_kind = 'grace_expired' then
        return query select c.organization_id from public.stripe_customers c
          where c.status = 'past_due' and not c.suspended_by_billing and c.grace_ends_at <= p_now
            and not exists (select 1 from public.organizations o
                            where o.id = c.organization_id and o.suspended_at is not null)
            and (p_after is null or c.organization_id > p_after)
          order by c.organization_id limit least(greatest(p_limit, 1), 1000);
      elsif p_kind = 'subscribed' then
        return query select c.organization_id from public.stripe_customers c
          where (c.subscription_id is not null
                 or exists (select 1 from public.stripe_meter_pushes p
                            where p.organization_id = c.organization_id and p.status = 'pending'))
            and (p_after is null or c.organization_id > p_after)
          order by c.organization_id limit least(greatest(p_limit, 1), 1000);
      else
        raise exception 'unknown kind %', p_kind using errcode = 'invalid_parameter_value';
      end if;
    end $$`.execute(db);
  const scan = 'worker_api.app_priv_stripe_organizations(text, timestamptz, uuid, integer)';
  await sql`alter function ${sql.raw(scan)} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${sql.raw(scan)} from public`.execute(db);
  await sql`grant execute on function ${sql.raw(scan)} to ${worker}`.execute(db);
}
