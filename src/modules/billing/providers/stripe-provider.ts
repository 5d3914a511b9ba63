import type Stripe from 'stripe';
import type { Logger } from 'pino';
import type { TenantCtx } from '../../../platform/tenancy/context.js';
import type { WithTenant } from '../../../platform/tenancy/with-tenant.js';
import * as repo from '../stripe.repository.js';
import { StripeBillingError } from '../stripe.errors.js';
import type { BillingProvider } from './billing-provider.js';

/** Runs a Stripe call; any failure of Stripe's becomes STRIPE_UNAVAILABLE (503), logged. */
async function stripeCall<T>(log: Logger | undefined, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    log?.warn({ err: (err as Error).message, stripe_call: what }, 'Stripe call failed');
    throw new StripeBillingError('STRIPE_UNAVAILABLE', `Stripe could not ${what}; try again later`);
  }
}

/**
 * The Stripe provider. The organization's customer is created lazily, once: the create carries the
 * idempotency key `saasready-customer-<org>`, so concurrent or retried first calls get the same customer
 * from Stripe, and the mapping row is inserted only if none exists (the first one stays).
 */
export function createStripeProvider(deps: {
  stripe: Stripe;
  withTenant: WithTenant;
  /** STRIPE_PRICES: plan key → price id. */
  planPrices: Readonly<Record<string, string>>;
  /** Where Checkout and the portal send the customer back (the console's billing page of the slug). */
  returnUrl: (slug: string) => string;
  log?: Logger;
}): BillingProvider {
  const { stripe, withTenant, log } = deps;

  /** The organization's customer id and its console billing page. */
  async function ensureCustomer(ctx: TenantCtx): Promise<{ customer: string; returnUrl: string }> {
    const orgId = ctx.tenantId;
    const { found, name, slug, owners } = await withTenant(
      orgId,
      async (db) => ({ found: await repo.customerOf(db, orgId), ...(await repo.ownersToMail(db, orgId)) }),
      { mode: 'read' },
    );
    const returnUrl = deps.returnUrl(slug);
    if (found) return { customer: found.customerId, returnUrl };
    // An owner's address (the first by id: the same on a retry under the same idempotency key), so
    // Stripe's own receipts and dunning mails reach someone even before Checkout asks for one.
    const email = owners[0]?.email;
    const customer = await stripeCall(log, 'create the customer', () =>
      stripe.customers.create(
        { name, ...(email ? { email } : {}), metadata: { organization_id: orgId } },
        { idempotencyKey: `saasready-customer-${orgId}` },
      ),
    );
    const stored = await withTenant(orgId, async (db) => {
      await repo.insertCustomer(db, orgId, customer.id);
      return (await repo.customerOf(db, orgId))!.customerId;
    });
    return { customer: stored, returnUrl };
  }

  /**
   * One open Checkout session per organization (two completed ones would be two subscriptions): the new
   * session replaces the stored one under the row lock, and the replaced one is expired. If it can no
   * longer be expired because it was COMPLETED (paid in another tab), the new one is expired instead and
   * the answer is SUBSCRIPTION_EXISTS; the completed one is stored again, so every further attempt answers
   * the same until its subscription is adopted (which clears the stored session, as an end does).
   */
  async function keepOnlyCheckout(orgId: string, sessionId: string): Promise<void> {
    const previous = await withTenant(orgId, (db) => repo.swapCheckoutSession(db, orgId, sessionId));
    if (!previous || previous === sessionId) return;
    try {
      await stripe.checkout.sessions.expire(previous);
      return;
    } catch {
      // Not open any more (complete or expired), or Stripe failed: look.
    }
    const before = await stripeCall(log, 'read the previous checkout session', () =>
      stripe.checkout.sessions.retrieve(previous),
    );
    if (before.status === 'open') {
      await stripeCall(log, 'expire the previous checkout session', () =>
        stripe.checkout.sessions.expire(previous),
      );
    } else if (before.status === 'complete') {
      await stripeCall(log, 'expire the checkout session', () => stripe.checkout.sessions.expire(sessionId));
      // The completed one stays the stored one (until its subscription is adopted): a later attempt finds
      // it again and answers the same, instead of finding the just-expired new one and opening another.
      await withTenant(orgId, (db) => repo.restoreCheckoutSession(db, orgId, sessionId, previous));
      throw new StripeBillingError(
        'SUBSCRIPTION_EXISTS',
        'a Checkout session of the organization was just completed: its subscription is being set up',
      );
    }
  }

  return {
    kind: 'stripe',
    issuesInvoices: false,
    async info(ctx) {
      const row = await withTenant(ctx.tenantId, (db) => repo.customerOf(db, ctx.tenantId), { mode: 'read' });
      return {
        provider: 'stripe',
        checkout: true,
        portal: true,
        checkoutPlans: Object.keys(deps.planPrices).sort(),
        status: row?.status ?? 'none',
        graceEndsAt: row?.graceEndsAt?.toISOString() ?? null,
      };
    },
    async checkoutUrl(ctx, plan) {
      const price = Object.hasOwn(deps.planPrices, plan) ? deps.planPrices[plan] : undefined;
      if (!price) {
        throw new StripeBillingError('PLAN_NOT_SOLD', `the plan "${plan}" has no Stripe price`);
      }
      const current = await withTenant(ctx.tenantId, (db) => repo.customerOf(db, ctx.tenantId), {
        mode: 'read',
      });
      if (
        current?.subscriptionId &&
        (current.status === 'active' || current.status === 'past_due' || current.status === 'paused')
      ) {
        throw new StripeBillingError(
          'SUBSCRIPTION_EXISTS',
          'the organization already has a subscription: change its plan (or resume it) in the billing portal',
        );
      }
      const { customer, returnUrl } = await ensureCustomer(ctx);
      const session = await stripeCall(log, 'create the checkout session', () =>
        stripe.checkout.sessions.create({
          mode: 'subscription',
          customer,
          client_reference_id: ctx.tenantId,
          line_items: [{ price, quantity: 1 }],
          subscription_data: { metadata: { organization_id: ctx.tenantId, plan } },
          success_url: `${returnUrl}?checkout=success`,
          cancel_url: `${returnUrl}?checkout=canceled`,
        }),
      );
      if (!session.url) throw new StripeBillingError('STRIPE_UNAVAILABLE', 'Stripe returned no checkout URL');
      await keepOnlyCheckout(ctx.tenantId, session.id);
      return session.url;
    },
    async portalUrl(ctx) {
      const { customer, returnUrl } = await ensureCustomer(ctx);
      const session = await stripeCall(log, 'create the portal session', () =>
        stripe.billingPortal.sessions.create({ customer, return_url: returnUrl }),
      );
      return session.url;
    },
  };
}
