import type Stripe from 'stripe';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import * as repo from './stripe.repository.js';

/** The scheduled task that pushes usage to Stripe as meter events. */
export const STRIPE_METER_PUSH_TASK = 'billing_stripe_meter_push';
/** Every 10 minutes (graphile-worker crontab). */
export const STRIPE_METER_PUSH_CRONTAB = `*/10 * * * * ${STRIPE_METER_PUSH_TASK}\n`;

/** Stripe's answer to a meter event whose identifier it has already recorded. */
function alreadyRecorded(err: unknown): boolean {
  const e = err as { code?: string; raw?: { code?: string } };
  return e.code === 'resource_already_exists' || e.raw?.code === 'resource_already_exists';
}

export interface MeterPusher {
  /** Pushes one organization's unpushed usage: first its pending pushes (a crash's leftovers, resent
   *  with the same identifier), then one new push per mapped meter whose usage grew. Returns the pushes
   *  sent. */
  pushOrganization(orgId: string): Promise<number>;
}

/**
 * Usage → Stripe meter events, exactly once. Per organization and meter the ledger
 * (`stripe_meter_pushes`) holds what was pushed; a push is:
 * 1. in the organization's transaction, under its `stripe_customers` row lock: usage total (day
 *    aggregates since `usage_since`) minus the pushed total; if positive, a `pending` row with the delta,
 *    the new total and the identifier `sr-<org>-<meter>-<new total>` (deterministic: the same push always
 *    has the same identifier; the unique (organization, meter, total) index refuses a second one);
 * 2. `stripe.billing.meterEvents.create` with that identifier;
 * 3. the row marked `sent`.
 * A crash between 2 and 3 leaves the row pending: the next run resends the SAME identifier, which Stripe
 * deduplicates (an "already exists" answer counts as sent). A crash before 2 sends it late, never twice.
 */
export function createMeterPusher(deps: {
  stripe: Stripe;
  withTenant: WithTenant;
  /** STRIPE_METER_EVENTS: meter key → Stripe event name. */
  meterEvents: Readonly<Record<string, string>>;
  log?: Logger;
  /** Tests: runs between the send and the mark (a crash there). */
  afterSend?: (identifier: string) => Promise<void>;
}): MeterPusher {
  const { withTenant } = deps;

  async function send(orgId: string, p: repo.MeterPushRow): Promise<void> {
    try {
      await deps.stripe.billing.meterEvents.create(
        {
          event_name: p.eventName,
          identifier: p.identifier,
          timestamp: Math.floor(p.createdAt.getTime() / 1000),
          payload: { stripe_customer_id: p.customerId, value: p.value },
        },
        { idempotencyKey: p.identifier },
      );
    } catch (err) {
      if (!alreadyRecorded(err)) throw err;
    }
    await deps.afterSend?.(p.identifier);
    await withTenant(orgId, (db) => repo.markPushSent(db, orgId, p.identifier));
  }

  return {
    async pushOrganization(orgId) {
      let sent = 0;
      const pending = await withTenant(orgId, (db) => repo.pendingPushes(db, orgId), { mode: 'read' });
      for (const p of pending) {
        await send(orgId, p);
        sent += 1;
      }
      for (const [meter, eventName] of Object.entries(deps.meterEvents)) {
        const push = await withTenant(orgId, async (db) => {
          const customer = await repo.customerOf(db, orgId, true);
          if (!customer?.subscriptionId) return null;
          const total = await repo.usageTotal(db, orgId, meter, customer.usageSince);
          if (total === null) return null;
          const pushed = await repo.pushedTotal(db, orgId, meter);
          const delta = await sql<{ delta: string; grew: boolean }>`select
              (${total}::numeric - ${pushed}::numeric)::text as delta,
              ${total}::numeric > ${pushed}::numeric as grew`.execute(db);
          const row = delta.rows[0]!;
          if (!row.grew) return null;
          const p = {
            identifier: `sr-${orgId}-${meter}-${total}`,
            meter,
            eventName,
            customerId: customer.customerId,
            value: row.delta,
            totalAfter: total,
          };
          await repo.insertPush(db, orgId, p);
          return { ...p, createdAt: new Date() };
        });
        if (push) {
          await send(orgId, push);
          sent += 1;
        }
      }
      return sent;
    },
  };
}

/** Runs the pusher over every subscribed organization (one's failure does not stop the others). */
export async function pushAllUsage(deps: {
  subscribed: (after: string | null, limit: number) => Promise<string[]>;
  pusher: MeterPusher;
  log?: Logger;
}): Promise<void> {
  let after: string | null = null;
  let sent = 0;
  for (;;) {
    const ids = await deps.subscribed(after, 500);
    for (const id of ids) {
      try {
        sent += await deps.pusher.pushOrganization(id);
      } catch (err) {
        deps.log?.warn({ tenant_id: id, err: (err as Error).message }, 'Stripe meter push failed');
      }
    }
    if (ids.length < 500) break;
    after = ids[ids.length - 1]!;
  }
  if (sent > 0) deps.log?.info({ meter_events_sent: sent }, 'usage pushed to Stripe');
}
