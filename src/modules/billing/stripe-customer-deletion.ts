import type { Logger } from 'pino';
import type { Stripe } from './providers/stripe-client.js';

/** The scheduled task that deletes the Stripe customers of deleted organizations. */
export const STRIPE_CUSTOMER_DELETION_TASK = 'billing_stripe_customer_deletion';
/** Every 5 minutes (graphile-worker crontab), like the organization deletion job that records them. */
export const STRIPE_CUSTOMER_DELETION_CRONTAB = `*/5 * * * * ${STRIPE_CUSTOMER_DELETION_TASK}\n`;

/** The wait before the next attempt after `attempts` failed ones: 5 minutes, doubling, at most a day. */
export function retryDelayMs(attempts: number): number {
  const minutes = Math.min(5 * 2 ** Math.max(attempts - 1, 0), 24 * 60);
  return minutes * 60_000;
}

/** Stripe's answer that the customer does not exist (any more): what a deletion wants, so it is done. */
function alreadyGone(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e.statusCode === 404 || e.code === 'resource_missing';
}

/**
 * Deletes in Stripe every customer the organization purge recorded (`stripe_customer_deletions`, written by
 * a trigger in the purge batch that removes the `stripe_customers` row) whose next attempt is due. Deleting
 * a customer in Stripe also cancels its subscriptions at once, so a deleted organization is never charged
 * again. Each customer on its own: a customer already gone (404 `resource_missing`: deleted by an earlier
 * attempt whose answer was lost, or by an operator) counts as deleted; any other failure is counted, its
 * error kept, and retried after {@link retryDelayMs} (logged as a warning, an error from the fifth attempt).
 * The purge of the organization's rows never waits for any of this.
 *
 * @returns the customers deleted by this run
 */
export async function deleteStripeCustomers(deps: {
  stripe: Stripe;
  /** `worker_api.app_priv_stripe_customer_deletions_due` on the worker pool. */
  due: (now: Date, limit: number) => Promise<{ customerId: string; attempts: number }[]>;
  /** `worker_api.app_priv_stripe_customer_deletion_result` on the worker pool. */
  result: (customerId: string, error: string | null, next: Date | null) => Promise<number | null>;
  now: () => Date;
  log?: Logger;
}): Promise<string[]> {
  const deleted: string[] = [];
  const seen = new Set<string>();
  for (;;) {
    const batch = (await deps.due(deps.now(), 100)).filter((c) => !seen.has(c.customerId));
    if (batch.length === 0) break;
    for (const { customerId, attempts: before } of batch) {
      seen.add(customerId);
      let error: string | null = null;
      try {
        await deps.stripe.customers.del(customerId);
      } catch (err) {
        if (!alreadyGone(err)) error = (err as Error).message || 'Stripe error';
      }
      if (error === null) {
        await deps.result(customerId, null, null);
        deleted.push(customerId);
        continue;
      }
      const next = new Date(deps.now().getTime() + retryDelayMs(before + 1));
      const attempts = (await deps.result(customerId, error, next)) ?? before + 1;
      const line = { stripe_customer: customerId, attempts, err: error, next_attempt_at: next.toISOString() };
      if (attempts >= 5) deps.log?.error(line, 'Stripe customer deletion failed: retried later');
      else deps.log?.warn(line, 'Stripe customer deletion failed: retried later');
    }
  }
  if (deleted.length > 0) deps.log?.info({ deleted: deleted.length }, 'Stripe customers deleted');
  return deleted;
}
