import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Issue 11, review 4: a deleted organization's Stripe customer is deleted in Stripe (docs/billing.md,
 * "Customer, Checkout, portal"; docs/organization-lifecycle.md).
 * - `stripe_customer_deletions` (global, out of the runtime role's reach): the customers still to delete in
 *   Stripe, with the attempts, the last error and the next attempt. Its organization column is
 *   `deleted_organization_id`, NOT `organization_id`: the purge and the catalog take every table with an
 *   `organization_id` column for tenant data, and this record must outlive the organization's rows.
 * - A trigger on `stripe_customers` records the customer when its row is deleted, which only the
 *   organization purge does (the runtime role may not delete it): in the purge batch's own transaction, so
 *   no purge can remove the mapping without leaving the record, and a crash resumes with both or neither.
 * - `worker_api.app_priv_stripe_customer_deletions_due`, `..._deletion_result`: the worker role's job
 *   (the customers due, then each attempt's outcome). Outside any tenant scope.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  const worker = sql.id(ctx.roles.worker);
  const own = async (fn: string) => {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${worker}`.execute(db);
  };

  await sql`create table stripe_customer_deletions (
    customer_id text primary key check (char_length(customer_id) between 1 and 255),
    deleted_organization_id uuid not null,
    recorded_at timestamptz not null default now(),
    attempts integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default now(),
    last_error text check (char_length(last_error) <= 500),
    deleted_at timestamptz
  )`.execute(db);
  await sql`create index stripe_customer_deletions_due on stripe_customer_deletions (next_attempt_at)
    where deleted_at is null`.execute(db);
  await sql`revoke all on stripe_customer_deletions from public`.execute(db);
  await sql`grant select, insert, update on stripe_customer_deletions to ${definer}`.execute(db);

  // Runs as the role deleting the row: the purge's definer role (granted the insert above).
  await sql`create function app_stripe_customer_deleted() returns trigger
    language plpgsql set search_path = pg_catalog, public as $$
    begin
      insert into public.stripe_customer_deletions (customer_id, deleted_organization_id)
        values (old.customer_id, old.organization_id) on conflict (customer_id) do nothing;
      return old;
    end $$`.execute(db);
  await sql`revoke all on function app_stripe_customer_deleted() from public`.execute(db);
  await sql`create trigger stripe_customers_deleted after delete on stripe_customers
    for each row execute function app_stripe_customer_deleted()`.execute(db);

  await sql`create function worker_api.app_priv_stripe_customer_deletions_due(p_now timestamptz,
      p_limit integer)
    returns table (customer_id text, attempts integer)
    language plpgsql stable security definer set search_path = pg_catalog, public as $$
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the Stripe customer deletions'))}
      return query select d.customer_id, d.attempts from public.stripe_customer_deletions d
        where d.deleted_at is null and d.next_attempt_at <= p_now
        order by d.next_attempt_at, d.customer_id limit least(greatest(p_limit, 1), 1000);
    end $$`.execute(db);
  await own('worker_api.app_priv_stripe_customer_deletions_due(timestamptz, integer)');

  // One attempt's outcome: deleted (p_error null), or failed (counted, its error kept, retried at p_next).
  await sql`create function worker_api.app_priv_stripe_customer_deletion_result(p_customer text,
      p_error text, p_next timestamptz)
    returns integer
    language plpgsql security definer set search_path = pg_catalog, public as $$
    declare v_attempts integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the Stripe customer deletions'))}
      update public.stripe_customer_deletions d set attempts = d.attempts + 1,
          deleted_at = case when p_error is null then now() end,
          last_error = left(p_error, 500),
          next_attempt_at = coalesce(p_next, d.next_attempt_at)
        where d.customer_id = p_customer and d.deleted_at is null
        returning d.attempts into v_attempts;
      return v_attempts;
    end $$`.execute(db);
  await own('worker_api.app_priv_stripe_customer_deletion_result(text, text, timestamptz)');
}
