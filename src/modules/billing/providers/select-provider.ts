import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { StripeConfig } from '../../../platform/config-stripe.js';
import type { Database } from '../../../platform/db/schema.js';
import type { WithTenant } from '../../../platform/tenancy/with-tenant.js';
import { createMeterPusher, type MeterPusher } from '../stripe-meter-push.js';
import { createStripeWebhooks, type StripeWebhooks } from '../stripe-webhooks.service.js';
import type { BillingProvider } from './billing-provider.js';
import { createLocalProvider } from './local-provider.js';
import { createStripeClient, type Stripe } from './stripe-client.js';
import { createStripeProvider } from './stripe-provider.js';

/** The provider the configuration selects, and with Stripe its webhook receiver and meter pusher. */
export interface BillingProviders {
  provider: BillingProvider;
  stripe?: {
    client: Stripe;
    config: StripeConfig;
    webhooks: StripeWebhooks;
    meterPusher: MeterPusher;
    billingLink: (slug: string) => string;
  };
}

/**
 * Selects the billing provider: Stripe when STRIPE_SECRET_KEY is configured, the built-in (local) one
 * otherwise, and says which in one log line at start.
 */
export function selectBillingProvider(deps: {
  stripe: StripeConfig | undefined;
  withTenant: WithTenant;
  controlDb: Kysely<Database>;
  organizationByCustomer: (customerId: string) => Promise<string | null>;
  publicUrl: string;
  planChanged: (orgId: string) => void;
  organizationChanged: (orgId: string) => void;
  log?: Logger;
}): BillingProviders {
  const { stripe: config, log } = deps;
  if (!config) {
    log?.info(
      { billing_provider: 'local' },
      'billing provider: local (no STRIPE_SECRET_KEY; the product prices plans and issues invoices)',
    );
    return { provider: createLocalProvider() };
  }
  const client = createStripeClient(config);
  const billingLink = (slug: string) => `${deps.publicUrl}/o/${encodeURIComponent(slug)}/billing`;
  log?.info(
    {
      billing_provider: 'stripe',
      stripe_api: config.apiBase
        ? `${config.apiBase.protocol}://${config.apiBase.host}:${config.apiBase.port}`
        : 'api.stripe.com',
      plans_priced: Object.keys(config.planPrices).length,
      meters_pushed: Object.keys(config.meterEvents).length,
    },
    'billing provider: stripe',
  );
  // STRIPE_PRICES against the plan catalog, once at start: a warning, not a refusal (plans are created and
  // archived at run time; a webhook naming a missing plan keeps the plan and logs it again).
  const priced = Object.keys(config.planPrices);
  if (priced.length > 0) {
    void deps.controlDb
      .selectFrom('plans')
      .select('key')
      .where('key', 'in', priced)
      .execute()
      .then((rows) => {
        const known = new Set(rows.map((r) => r.key));
        const missing = priced.filter((k) => !known.has(k));
        if (missing.length > 0) {
          log?.warn({ plans_missing: missing }, 'STRIPE_PRICES names plans the catalog does not have');
        }
      })
      .catch((err: unknown) => log?.warn({ err: (err as Error).message }, 'STRIPE_PRICES check failed'));
  }
  // STRIPE_METER_EVENTS against the meter catalog, once at start: a meter that does not exist, or whose
  // aggregation Stripe's sum/count meters cannot take (max, latest, unique_count), is never pushed.
  const pushed = Object.keys(config.meterEvents);
  if (pushed.length > 0) {
    void sql<{ key: string; aggregation: string }>`select key, aggregation from meters
        where key = any(${pushed}::text[])`
      .execute(deps.controlDb)
      .then(({ rows }) => {
        const aggregation = new Map(rows.map((r) => [r.key, r.aggregation]));
        const unknown = pushed.filter((k) => !aggregation.has(k));
        const notSummed = pushed.filter((k) => {
          const a = aggregation.get(k);
          return a !== undefined && a !== 'count' && a !== 'sum';
        });
        if (unknown.length > 0 || notSummed.length > 0) {
          log?.warn(
            { meters_unknown: unknown, meters_not_summed: notSummed },
            'STRIPE_METER_EVENTS names meters that cannot be pushed',
          );
        }
      })
      .catch((err: unknown) =>
        log?.warn({ err: (err as Error).message }, 'STRIPE_METER_EVENTS check failed'),
      );
  }
  return {
    provider: createStripeProvider({
      stripe: client,
      withTenant: deps.withTenant,
      planPrices: config.planPrices,
      returnUrl: billingLink,
      log,
    }),
    stripe: {
      client,
      config,
      billingLink,
      webhooks: createStripeWebhooks({
        stripe: client,
        webhookSecret: config.webhookSecret,
        withTenant: deps.withTenant,
        controlDb: deps.controlDb,
        organizationByCustomer: deps.organizationByCustomer,
        planPrices: config.planPrices,
        graceDays: config.graceDays,
        billingLink,
        planChanged: deps.planChanged,
        organizationChanged: deps.organizationChanged,
        log,
      }),
      meterPusher: createMeterPusher({
        stripe: client,
        withTenant: deps.withTenant,
        meterEvents: config.meterEvents,
        log,
      }),
    },
  };
}
