import { sql, type Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { BillingState } from './stripe-billing-state.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

export interface StripeCustomerRow extends BillingState {
  customerId: string;
  usageSince: Date;
}

/** The organization's Stripe customer and billing state; `lock` takes the row lock until the commit. */
export async function customerOf(
  db: TenantDb,
  orgId: string,
  lock = false,
): Promise<StripeCustomerRow | undefined> {
  let q = db.selectFrom('stripe_customers').selectAll().where('organization_id', '=', orgId);
  if (lock) q = q.forUpdate();
  const r = await q.executeTakeFirst();
  return r
    ? {
        customerId: r.customer_id,
        subscriptionId: r.subscription_id,
        status: r.status,
        statusEventAt: r.status_event_at,
        graceEndsAt: r.grace_ends_at,
        suspendedByBilling: r.suspended_by_billing,
        usageSince: r.usage_since,
      }
    : undefined;
}

export async function insertCustomer(db: TenantDb, orgId: string, customerId: string): Promise<void> {
  await db
    .insertInto('stripe_customers')
    .values({ organization_id: orgId, customer_id: customerId, status: 'none' })
    .onConflict((oc) => oc.column('organization_id').doNothing())
    .execute();
}

export async function saveState(db: TenantDb, orgId: string, s: BillingState): Promise<void> {
  await db
    .updateTable('stripe_customers')
    .set({
      status: s.status,
      subscription_id: s.subscriptionId,
      status_event_at: s.statusEventAt,
      grace_ends_at: s.graceEndsAt,
      suspended_by_billing: s.suspendedByBilling,
      updated_at: new Date(),
    })
    .where('organization_id', '=', orgId)
    .execute();
}

/**
 * Records a webhook event id. False when it is already recorded: a concurrent delivery of the same event
 * waits here for the first one's transaction and then conflicts.
 */
export async function recordEvent(
  db: Kysely<Database>,
  e: { id: string; type: string; created: Date; outcome: string },
): Promise<boolean> {
  const r = await db
    .insertInto('stripe_events')
    .values({ id: e.id, type: e.type, event_created: e.created, outcome: e.outcome })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

/** Sets or clears the organization's suspension (the authenticator refuses a suspended organization). */
export async function setSuspended(db: TenantDb, orgId: string, at: Date | null): Promise<void> {
  await db
    .updateTable('organizations')
    .set({ suspended_at: at, updated_at: new Date() })
    .where('id', '=', orgId)
    .execute();
}

export async function organizationSuspendedAt(db: TenantDb, orgId: string): Promise<Date | null> {
  const r = await db
    .selectFrom('organizations')
    .select(['suspended_at'])
    .where('id', '=', orgId)
    .executeTakeFirst();
  return r?.suspended_at ?? null;
}

/** The organization's name and slug. */
export async function organizationNames(
  db: TenantDb,
  orgId: string,
): Promise<{ name: string; slug: string }> {
  const org = await db
    .selectFrom('organizations')
    .select(['name', 'slug'])
    .where('id', '=', orgId)
    .executeTakeFirst();
  return { name: org?.name ?? '', slug: org?.slug ?? '' };
}

/** The active owners' addresses and the organization's name, for billing mails. */
export async function ownersToMail(
  db: TenantDb,
  orgId: string,
): Promise<{ name: string; slug: string; owners: { userId: string; email: string }[] }> {
  const org = await db
    .selectFrom('organizations')
    .select(['name', 'slug'])
    .where('id', '=', orgId)
    .executeTakeFirst();
  const owners = await db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .select(['users.id as userId', 'users.email as email'])
    .where('memberships.organization_id', '=', orgId)
    .where('memberships.role', '=', 'owner')
    .where('memberships.status', '=', 'active')
    .orderBy('users.id')
    .limit(100)
    .execute();
  return { name: org?.name ?? '', slug: org?.slug ?? '', owners };
}

export interface MeterPushRow {
  identifier: string;
  meter: string;
  eventName: string;
  customerId: string;
  value: string;
  createdAt: Date;
}

export async function pendingPushes(db: TenantDb, orgId: string): Promise<MeterPushRow[]> {
  const rows = await db
    .selectFrom('stripe_meter_pushes')
    .select(['identifier', 'meter', 'event_name', 'customer_id', 'value', 'created_at'])
    .where('organization_id', '=', orgId)
    .where('status', '=', 'pending')
    .orderBy('created_at')
    .limit(1000)
    .execute();
  return rows.map((r) => ({
    identifier: r.identifier,
    meter: r.meter,
    eventName: r.event_name,
    customerId: r.customer_id,
    value: r.value,
    createdAt: r.created_at,
  }));
}

/** The total usage of `meter` pushed so far (sent or pending: a pending push is resent, never redone). */
export async function pushedTotal(db: TenantDb, orgId: string, meter: string): Promise<string> {
  const r = await sql<{ total: string }>`select coalesce(max(total_after), 0)::text as total
    from stripe_meter_pushes where organization_id = ${orgId}::uuid and meter = ${meter}`.execute(db);
  return r.rows[0]!.total;
}

/** The usage of a count or sum meter since `since`'s UTC day, from the day aggregates (null otherwise). */
export async function usageTotal(
  db: TenantDb,
  orgId: string,
  meter: string,
  since: Date,
): Promise<string | null> {
  const r = await sql<{ total: string | null; other: boolean }>`select coalesce(sum(value), 0)::text as total,
      bool_or(aggregation not in ('count', 'sum')) as other
    from usage_aggregates
    where organization_id = ${orgId}::uuid and granularity = 'day' and meter = ${meter}
      and bucket_start >= date_trunc('day', ${since}::timestamptz at time zone 'UTC') at time zone 'UTC'`.execute(
    db,
  );
  const row = r.rows[0];
  return !row || row.other ? null : row.total;
}

export async function insertPush(
  db: TenantDb,
  orgId: string,
  p: {
    identifier: string;
    meter: string;
    eventName: string;
    customerId: string;
    value: string;
    totalAfter: string;
  },
): Promise<void> {
  await db
    .insertInto('stripe_meter_pushes')
    .values({
      organization_id: orgId,
      identifier: p.identifier,
      meter: p.meter,
      event_name: p.eventName,
      customer_id: p.customerId,
      value: p.value,
      total_after: p.totalAfter,
    })
    .execute();
}

export async function markPushSent(db: TenantDb, orgId: string, identifier: string): Promise<void> {
  await db
    .updateTable('stripe_meter_pushes')
    .set({ status: 'sent', sent_at: new Date() })
    .where('organization_id', '=', orgId)
    .where('identifier', '=', identifier)
    .execute();
}
