import type Stripe from 'stripe';
import type { Logger } from 'pino';
import type { Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';
import { recordAudit } from '../../platform/audit/record.js';
import { systemCtx, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { applyPlanChange } from '../plans/organization-plan.service.js';
import { PlansError } from '../plans/plans.errors.js';
import { decide, type BillingEvent } from './stripe-billing-state.js';
import { mailOwners, type BillingMailKind } from './stripe-mail.js';
import * as repo from './stripe.repository.js';
import { StripeBillingError } from './stripe.errors.js';

/** What happened to one delivery. */
export type WebhookOutcome = 'applied' | 'stale' | 'ignored' | 'duplicate' | 'unknown_customer';

export interface StripeWebhooks {
  /** Verifies the signature of the raw body (STRIPE_SIGNATURE_INVALID, 400, when it does not verify)
   *  and applies the event once. */
  receive(rawBody: Buffer, signature: string | undefined): Promise<{ id: string; outcome: WebhookOutcome }>;
}

const HANDLED = new Set([
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'invoice.payment_failed',
]);

/** Thrown inside the transaction when the event is already recorded: rolls back whatever was done. */
class Duplicate extends Error {}

const idOf = (v: unknown): string | null => {
  if (typeof v === 'string') return v;
  const id: unknown = v && typeof v === 'object' && 'id' in v ? v.id : null;
  return typeof id === 'string' ? id : null;
};

/**
 * Reduces a verified Stripe event to what the state machine reads; null for an event type it does not
 * act on. The organization is found from the customer id alone (the stored mapping), never metadata.
 */
function reduce(
  event: Stripe.Event,
  priceToPlan: ReadonlyMap<string, string>,
): { customer: string | null; billing: BillingEvent } | null {
  if (!HANDLED.has(event.type)) return null;
  const created = new Date(event.created * 1000);
  const obj = event.data.object as unknown as Record<string, unknown>;
  const customer = idOf(obj.customer);
  if (event.type.startsWith('customer.subscription.')) {
    const items = (obj.items as { data?: { price?: { id?: string } | string }[] } | undefined)?.data ?? [];
    const prices = items.map((i) => idOf(i.price)).filter((p): p is string => p !== null);
    const plan = prices.map((p) => priceToPlan.get(p)).find((p) => p !== undefined) ?? null;
    return {
      customer,
      billing: {
        kind: 'subscription',
        created,
        deleted: event.type === 'customer.subscription.deleted',
        subscriptionId: idOf(obj) ?? '',
        stripeStatus: typeof obj.status === 'string' ? obj.status : '',
        plan,
        startedAt: typeof obj.start_date === 'number' ? new Date(obj.start_date * 1000) : created,
        endedAt: typeof obj.ended_at === 'number' ? new Date(obj.ended_at * 1000) : created,
      },
    };
  }
  return {
    customer,
    billing: {
      kind: event.type === 'invoice.paid' ? 'invoice_paid' : 'invoice_payment_failed',
      created,
      subscriptionId: invoiceSubscription(obj),
      invoiceId: idOf(obj),
    },
  };
}

/** The subscription an invoice bills: `subscription` (API versions before 2025-03), else
 *  `parent.subscription_details.subscription`; null for a one-off invoice. */
function invoiceSubscription(obj: Record<string, unknown>): string | null {
  const direct = idOf(obj.subscription);
  if (direct) return direct;
  const parent = obj.parent as { subscription_details?: { subscription?: unknown } } | null | undefined;
  return idOf(parent?.subscription_details?.subscription ?? null);
}

/**
 * `POST /webhooks/stripe`. Each event id is recorded in `stripe_events` IN THE TRANSACTION OF ITS EFFECTS
 * (the organization's, under its organization row lock, then its `stripe_customers` row lock): a replay finds it and does nothing; a
 * concurrent duplicate waits for the first delivery's commit, then conflicts and rolls back. Effects:
 * the billing state, the plan (through `applyPlanChange`, audited in the organization's chain), the
 * suspension (lifted on payment) and the owners' mails, all in that one transaction.
 */
export function createStripeWebhooks(deps: {
  stripe: Stripe;
  webhookSecret: string;
  withTenant: WithTenant;
  /** A handle outside every tenant scope: records events of unknown customers. */
  controlDb: Kysely<Database>;
  organizationByCustomer: (customerId: string) => Promise<string | null>;
  planPrices: Readonly<Record<string, string>>;
  graceDays: number;
  /** The console's billing page (linked from mails). */
  billingLink: (slug: string) => string;
  /** After a commit that changed the plan / the suspension: drop cached data everywhere. */
  planChanged: (orgId: string) => void;
  organizationChanged: (orgId: string) => void;
  log?: Logger;
}): StripeWebhooks {
  const priceToPlan = new Map(Object.entries(deps.planPrices).map(([plan, price]) => [price, plan]));

  async function apply(db: TenantDb, ctx: TenantCtx, event: Stripe.Event, billing: BillingEvent) {
    const orgId = ctx.tenantId;
    // The organization row first, then the customer row: the order of every path that changes both (the
    // grace job, an administrator's suspension), so a payment and a suspension cannot deadlock.
    const org = await repo.lockOrganization(db, orgId);
    const state = (await repo.customerOf(db, orgId, true))!;
    const d = decide(state, billing, deps.graceDays);
    const created = new Date(event.created * 1000);
    if (!(await repo.recordEvent(db, { id: event.id, type: event.type, created, outcome: d.outcome }))) {
      throw new Duplicate();
    }
    // An ignored event may still be remembered (the end of a subscription that is not current).
    if (d.next !== state) {
      // Adopted or ended: the stored Checkout session is done with.
      const adoptedOrEnded = d.next.subscriptionId !== state.subscriptionId;
      await repo.saveState(db, orgId, d.next, adoptedOrEnded);
    }
    if (d.outcome !== 'applied') return { outcome: d.outcome, planChanged: false, suspension: false };
    let planChanged = false;
    if (d.plan) {
      try {
        planChanged = (await applyPlanChange(db, ctx, d.plan, 'provider')).changed;
      } catch (err) {
        // STRIPE_PRICES names a plan the catalog does not have (refused before anything is written): the
        // billing state still follows Stripe; an error here would only make Stripe retry forever.
        if (!(err instanceof PlansError && err.code === 'PLAN_NOT_FOUND')) throw err;
        deps.log?.error({ tenant_id: orgId, plan: d.plan }, 'STRIPE_PRICES names a plan not in the catalog');
      }
    }
    // Only billing's suspension is lifted: an administrator's stays (organizations.suspension_reason).
    const lifted = d.reactivate && (await repo.liftBillingSuspension(db, orgId));
    if (lifted) {
      await recordAudit(db, ctx, {
        action: 'organization.reactivated',
        target: { type: 'organization', id: orgId },
        metadata: { via: 'stripe', event: event.id },
      });
    }
    // The billing status is active, but the organization is not (an administrator's suspension stays, or
    // it is pending deletion or being deleted): the mail must not say it is active again.
    const activeNow = lifted || org?.lifecycleState === 'active';
    for (const kind of d.mails) {
      let mail: BillingMailKind | null = kind;
      if (kind === 'reactivated' && !activeNow) {
        const byAdmin = org?.lifecycleState === 'suspended' && org.suspensionReason === 'admin';
        mail = byAdmin ? 'paid_still_suspended' : null;
      }
      if (mail) await mailOwners(db, orgId, mail, event.id, deps.billingLink, d.next.graceEndsAt);
    }
    return { outcome: d.outcome, planChanged, suspension: d.reactivate };
  }

  return {
    async receive(rawBody, signature) {
      let event: Stripe.Event;
      try {
        if (!signature) throw new Error('no signature');
        event = deps.stripe.webhooks.constructEvent(rawBody, signature, deps.webhookSecret);
      } catch {
        throw new StripeBillingError(
          'STRIPE_SIGNATURE_INVALID',
          'the Stripe-Signature header does not verify',
        );
      }
      const reduced = reduce(event, priceToPlan);
      const orgId = reduced?.customer ? await deps.organizationByCustomer(reduced.customer) : null;
      if (!reduced || !orgId) {
        const outcome: WebhookOutcome = reduced ? 'unknown_customer' : 'ignored';
        const created = new Date(event.created * 1000);
        const fresh = await repo.recordEvent(deps.controlDb, {
          id: event.id,
          type: event.type,
          created,
          outcome,
        });
        deps.log?.info({ stripe_event: event.id, type: event.type, outcome }, 'Stripe event not applied');
        return { id: event.id, outcome: fresh ? outcome : 'duplicate' };
      }
      const ctx = systemCtx(orgId, 'stripe-webhook');
      let result;
      try {
        result = await deps.withTenant(orgId, (db) => apply(db, ctx, event, reduced.billing));
      } catch (err) {
        if (err instanceof Duplicate) return { id: event.id, outcome: 'duplicate' };
        throw err;
      }
      if (result.planChanged) deps.planChanged(orgId);
      if (result.suspension) deps.organizationChanged(orgId);
      deps.log?.info(
        { stripe_event: event.id, type: event.type, outcome: result.outcome, tenant_id: orgId },
        'Stripe event received',
      );
      return { id: event.id, outcome: result.outcome };
    },
  };
}
