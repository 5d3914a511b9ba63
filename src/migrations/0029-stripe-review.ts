import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Issue 11, the Stripe provider's review findings (docs/billing.md, "Stripe").
 * - `stripe_customers.ended_subscription_ids`: the subscriptions that ended (the last 50), so a late or
 *   same-second event of an ended subscription cannot make it current again.
 * - `stripe_customers.subscription_ended_at`: when the last subscription ended; the next one's usage is
 *   pushed from no earlier than that (Stripe meters are per customer: usage pushed under the ended one is
 *   not pushed again under the next).
 * - `stripe_customers.failed_invoice_id`: the invoice whose failed payment made the organization past due;
 *   only its payment (or a subscription event reporting `active`) ends the past due.
 * - status `paused`: a paused subscription stays current but bills nothing, so the organization is on the
 *   plan after cancellation until it resumes.
 * - `stripe_meter_pushes.status` `abandoned`: a push Stripe refused for good. Abandoned rows count in no
 *   total and leave the unique (organization, subscription, meter, total) index, so the same amount is
 *   pushed again under a new identifier.
 * No new table, function or grant: the runtime role already updates `stripe_customers` and
 * `stripe_meter_pushes.status`.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`alter table stripe_customers
    add column ended_subscription_ids text[] not null default '{}'
      constraint stripe_customers_ended_ids check (cardinality(ended_subscription_ids) <= 50),
    add column subscription_ended_at timestamptz,
    add column failed_invoice_id text
      constraint stripe_customers_failed_invoice check (char_length(failed_invoice_id) between 1 and 255),
    add constraint stripe_customers_failed_invoice_past_due
      check (failed_invoice_id is null or status = 'past_due')`.execute(db);
  await sql`alter table stripe_customers drop constraint stripe_customers_status_check,
    add constraint stripe_customers_status_check
      check (status in ('none', 'active', 'past_due', 'paused', 'canceled'))`.execute(db);

  await sql`alter table stripe_meter_pushes drop constraint stripe_meter_pushes_status_check,
    add constraint stripe_meter_pushes_status_check check (status in ('pending', 'sent', 'abandoned'))`.execute(
    db,
  );
  await sql`drop index stripe_meter_pushes_total`.execute(db);
  await sql`create unique index stripe_meter_pushes_total on stripe_meter_pushes
    (organization_id, subscription_id, meter, total_after) where status <> 'abandoned'`.execute(db);
}
