import type { TenantCtx } from '../../../platform/tenancy/context.js';
import type { BillingStatus } from '../stripe-billing-state.js';

/** What the console shows about the deployment's billing provider and the organization's standing. */
export interface BillingProviderInfo {
  provider: 'local' | 'stripe';
  /** Stripe only: Checkout and the Customer Portal are available. */
  checkout: boolean;
  portal: boolean;
  /** Stripe only: the plans Checkout sells (those with a Stripe price, STRIPE_PRICES), by key. */
  checkoutPlans: string[];
  /** Stripe only: the organization's subscription standing (`none` before its first subscription). */
  status: BillingStatus | null;
  /** Stripe only: when a past-due organization is suspended unless it pays. */
  graceEndsAt: string | null;
}

/**
 * The billing provider: who prices and collects. `local` (default): the product prices and issues
 * invoices itself (src/modules/billing). `stripe`: Stripe does, from the subscription the organization
 * buys through Checkout and the usage pushed to it as meter events; the product follows through the
 * webhook (src/modules/billing/stripe-webhooks.service.ts). Selected by configuration (STRIPE_SECRET_KEY).
 */
export interface BillingProvider {
  readonly kind: 'local' | 'stripe';
  /** Whether the product closes periods and numbers invoices itself (the local provider). */
  readonly issuesInvoices: boolean;
  info(ctx: TenantCtx): Promise<BillingProviderInfo>;
  /** A Stripe Checkout Session URL to subscribe the organization to `plan`; `returnUrl` is where the
   *  customer comes back. BILLING_PROVIDER_LOCAL with the local provider. */
  checkoutUrl(ctx: TenantCtx, plan: string): Promise<string>;
  /** A Stripe Customer Portal URL for the organization. BILLING_PROVIDER_LOCAL with the local provider. */
  portalUrl(ctx: TenantCtx): Promise<string>;
}
