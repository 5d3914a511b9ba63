import type Stripe from 'stripe';
import type { StripeConfig } from '../../../platform/config-stripe.js';

let sdk: typeof Stripe | undefined;

/**
 * Loads the Stripe SDK (a few hundred modules): only a process with Stripe configured pays for it.
 * compose() awaits it before building the services, so `createStripeClient` stays synchronous.
 */
export async function loadStripeSdk(): Promise<void> {
  sdk ??= (await import('stripe')).default;
}

/**
 * The Stripe SDK client. `apiBase` (STRIPE_API_BASE) points it elsewhere than api.stripe.com: the tests'
 * local server (stripe-fake-server.ts), or a proxy. No automatic retries: every write the product makes
 * carries an idempotency key or identifier of its own and is retried by its job.
 */
export function createStripeClient(config: Pick<StripeConfig, 'secretKey' | 'apiBase'>): Stripe {
  if (!sdk) throw new Error('the Stripe SDK is not loaded (await loadStripeSdk() first)');
  return new sdk(config.secretKey, {
    maxNetworkRetries: 0,
    timeout: 15_000,
    ...(config.apiBase
      ? { host: config.apiBase.host, port: config.apiBase.port, protocol: config.apiBase.protocol }
      : {}),
  });
}

export type { Stripe };
