import type { Logger } from 'pino';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { BillingProviders } from './providers/select-provider.js';
import {
  deleteStripeCustomers,
  STRIPE_CUSTOMER_DELETION_CRONTAB,
  STRIPE_CUSTOMER_DELETION_TASK,
} from './stripe-customer-deletion.js';
import { STRIPE_GRACE_CRONTAB, STRIPE_GRACE_TASK, suspendExpiredGrace } from './stripe-grace.js';
import { pushAllUsage, STRIPE_METER_PUSH_CRONTAB, STRIPE_METER_PUSH_TASK } from './stripe-meter-push.js';

/** The Stripe provider's scheduled jobs (none with the local provider): grace expiry, meter push, and the
 *  deletion in Stripe of deleted organizations' customers. */
export function stripeJobs(deps: {
  stripe: BillingProviders['stripe'];
  scan: (
    kind: 'grace_expired' | 'subscribed',
    now: Date,
    after: string | null,
    limit: number,
  ) => Promise<string[]>;
  /** The customers the organization purge recorded (worker_api, migration 0034). */
  customerDeletions: {
    due: (now: Date, limit: number) => Promise<{ customerId: string; attempts: number }[]>;
    result: (customerId: string, error: string | null, next: Date | null) => Promise<number | null>;
  };
  withTenant: WithTenant;
  now: () => Date;
  organizationChanged: (orgId: string) => void;
  log?: Logger;
}): { handlers: Record<string, JobHandler>; crontab: string } {
  const { stripe } = deps;
  if (!stripe) return { handlers: {}, crontab: '' };
  return {
    handlers: {
      [STRIPE_GRACE_TASK]: async () => {
        await suspendExpiredGrace({
          graceExpired: (now, after, limit) => deps.scan('grace_expired', now, after, limit),
          withTenant: deps.withTenant,
          now: deps.now,
          billingLink: stripe.billingLink,
          organizationChanged: deps.organizationChanged,
          log: deps.log,
        });
      },
      [STRIPE_CUSTOMER_DELETION_TASK]: async () => {
        await deleteStripeCustomers({
          stripe: stripe.client,
          ...deps.customerDeletions,
          now: deps.now,
          log: deps.log,
        });
      },
      [STRIPE_METER_PUSH_TASK]: async () => {
        await pushAllUsage({
          subscribed: (after, limit) => deps.scan('subscribed', deps.now(), after, limit),
          pusher: stripe.meterPusher,
          log: deps.log,
        });
      },
    },
    crontab: STRIPE_GRACE_CRONTAB + STRIPE_METER_PUSH_CRONTAB + STRIPE_CUSTOMER_DELETION_CRONTAB,
  };
}
