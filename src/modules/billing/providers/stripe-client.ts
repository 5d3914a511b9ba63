import Stripe from 'stripe';
import type { StripeConfig } from '../../../platform/config-stripe.js';

/**
 * The Stripe SDK client. `apiBase` (STRIPE_API_BASE) points it elsewhere than api.stripe.com: the tests'
 * local server (stripe-fake-server.ts), or a proxy. No automatic retries: every write the product makes
 * carries an idempotency key or identifier of its own and is retried by its job.
 */
export function createStripeClient(config: Pick<StripeConfig, 'secretKey' | 'apiBase'>): Stripe {
  return new Stripe(config.secretKey, {
    maxNetworkRetries: 0,
    timeout: 15_000,
    ...(config.apiBase
      ? { host: config.apiBase.host, port: config.apiBase.port, protocol: config.apiBase.protocol }
      : {}),
  });
}

export type { Stripe };
