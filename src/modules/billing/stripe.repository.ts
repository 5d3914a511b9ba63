import type { Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { BillingState } from './stripe-billing-state.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

export interface StripeCustomerRow extends BillingState {
  customerId: string;
  checkoutSessionId: string | null;
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
        subscriptionStartedAt: r.subscription_started_at,
        status: r.status,
        statusEventAt: r.status_event_at,
        subscriptionEventAt: r.subscription_event_at,
        graceEndsAt: r.grace_ends_at,
        suspendedByBilling: r.suspended_by_billing,
        endedSubscriptionIds: r.ended_subscription_ids,
        subscriptionEndedAt: r.subscription_ended_at,
        failedInvoiceId: r.failed_invoice_id,
        checkoutSessionId: r.checkout_session_id,
      }
    : undefined;
}

/**
 * Records the organization's Stripe customer (nothing when it has one already), and the row of
 * `stripe_customer_lookup` (migration 0047) a webhook finds the organization by, in the same transaction.
 */
export async function insertCustomer(db: TenantDb, orgId: string, customerId: string): Promise<void> {
  const inserted = await db
    .insertInto('stripe_customers')
    .values({ organization_id: orgId, customer_id: customerId, status: 'none' })
    .onConflict((oc) => oc.column('organization_id').doNothing())
    .returning('organization_id')
    .executeTakeFirst();
  if (!inserted) return;
  await db
    .insertInto('stripe_customer_lookup')
    .values({ customer_id: customerId, organization_id: orgId })
    .execute();
}

/**
 * Stores the billing state. `clearCheckout`: the subscription was adopted or ended, so the stored Checkout
 * session is done with (a completed one must not make the next purchase answer "subscription exists").
 */
export async function saveState(
  db: TenantDb,
  orgId: string,
  s: BillingState,
  clearCheckout = false,
): Promise<void> {
  await db
    .updateTable('stripe_customers')
    .set({
      ...(clearCheckout ? { checkout_session_id: null } : {}),
      ended_subscription_ids: s.endedSubscriptionIds,
      subscription_ended_at: s.subscriptionEndedAt,
      failed_invoice_id: s.failedInvoiceId,
      status: s.status,
      subscription_id: s.subscriptionId,
      subscription_started_at: s.subscriptionStartedAt,
      status_event_at: s.statusEventAt,
      subscription_event_at: s.subscriptionEventAt,
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

/** Billing suspends the organization (the authenticator refuses it but for the routes that pay). Only an
 *  active one: an organization suspended otherwise or pending deletion stays as it is. True if suspended. */
export async function suspendForBilling(db: TenantDb, orgId: string, at: Date): Promise<boolean> {
  const r = await db
    .updateTable('organizations')
    .set({
      lifecycle_state: 'suspended',
      suspension_reason: 'billing',
      suspended_at: at,
      updated_at: new Date(),
    })
    .where('id', '=', orgId)
    .where('lifecycle_state', '=', 'active')
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

/** Lifts the organization's suspension if billing set it (an administrator's stays). True if lifted. */
export async function liftBillingSuspension(db: TenantDb, orgId: string): Promise<boolean> {
  const r = await db
    .updateTable('organizations')
    .set({ lifecycle_state: 'active', suspension_reason: null, suspended_at: null, updated_at: new Date() })
    .where('id', '=', orgId)
    .where('lifecycle_state', '=', 'suspended')
    .where('suspension_reason', '=', 'billing')
    .returning('id')
    .executeTakeFirst();
  return r !== undefined;
}

/** Locks the organization row (FOR NO KEY UPDATE, the lock its update takes) and returns its lifecycle.
 *  Every path changing both it and `stripe_customers` locks it FIRST (grace job, webhook, administrators'
 *  suspension): one order, so none deadlocks with another (docs/billing.md, "Lock order"). */
export async function lockOrganization(
  db: TenantDb,
  orgId: string,
): Promise<{ lifecycleState: string; suspensionReason: string | null } | undefined> {
  const r = await db
    .selectFrom('organizations')
    .select(['lifecycle_state', 'suspension_reason'])
    .where('id', '=', orgId)
    .forNoKeyUpdate()
    .executeTakeFirst();
  return r ? { lifecycleState: r.lifecycle_state, suspensionReason: r.suspension_reason } : undefined;
}

/** Whether a Stripe subscription of the organization still bills it (active, past due or paused): its
 *  deletion would leave Stripe charging a customer nobody can reach any more. */
export async function hasLiveSubscription(db: TenantDb, orgId: string): Promise<boolean> {
  const r = await db
    .selectFrom('stripe_customers')
    .select(['status'])
    .where('organization_id', '=', orgId)
    .where('status', 'in', ['active', 'past_due', 'paused'])
    .executeTakeFirst();
  return r !== undefined;
}

/** Stores the organization's open Checkout session; returns the one it replaces (to be expired). */
export async function swapCheckoutSession(
  db: TenantDb,
  orgId: string,
  sessionId: string | null,
): Promise<string | null> {
  const before = await db
    .selectFrom('stripe_customers')
    .select('checkout_session_id')
    .where('organization_id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
  await db
    .updateTable('stripe_customers')
    .set({ checkout_session_id: sessionId, updated_at: new Date() })
    .where('organization_id', '=', orgId)
    .execute();
  return before?.checkout_session_id ?? null;
}

/** Puts back `previous` as the stored Checkout session if `replacing` is still the stored one. */
export async function restoreCheckoutSession(
  db: TenantDb,
  orgId: string,
  replacing: string,
  previous: string,
): Promise<void> {
  await db
    .updateTable('stripe_customers')
    .set({ checkout_session_id: previous, updated_at: new Date() })
    .where('organization_id', '=', orgId)
    .where('checkout_session_id', '=', replacing)
    .execute();
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
