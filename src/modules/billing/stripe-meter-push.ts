import { createHash } from 'node:crypto';
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

/** A push identifier: deterministic, and at most 43 characters whatever the meter key and total. */
export function pushIdentifier(orgId: string, subscriptionId: string, meter: string, total: string): string {
  return `sr-${createHash('sha256').update(`${orgId}|${subscriptionId}|${meter}|${total}`).digest('hex').slice(0, 40)}`;
}

/** Some pushes of an organization failed (each is retried by the next run; the others went on). */
export class MeterPushFailed extends Error {
  constructor(
    readonly failed: number,
    first: string,
  ) {
    super(`${failed} Stripe meter push(es) failed; first: ${first}`);
  }
}

export interface MeterPusher {
  /** Pushes one organization's unpushed usage: first its pending pushes (a crash's leftovers, resent
   *  byte for byte), then one new push per mapped meter whose usage under the current subscription grew.
   *  A failing push does not stop the others (its meter waits for the next run); the failures are
   *  recorded on their rows and thrown together at the end (MeterPushFailed). Returns the pushes sent. */
  pushOrganization(orgId: string): Promise<number>;
}

/**
 * Usage → Stripe meter events, exactly once, per subscription. Per organization, subscription and meter
 * the ledger (`stripe_meter_pushes`) holds what was pushed; a push is:
 * 1. in the organization's transaction, under its `stripe_customers` row lock: the meter's usage since
 *    the current subscription started, minus what was pushed for that subscription; if positive, a
 *    `pending` row with the delta, the new total and the identifier `sr-<hash of org, subscription,
 *    meter, new total>` (deterministic; the unique (organization, subscription, meter, total) index
 *    refuses a second one). The row's `created_at` (RETURNING) is the event's timestamp;
 * 2. `stripe.billing.meterEvents.create` built from the stored row ONLY, with the identifier as the
 *    idempotency key: a resend carries exactly the first send's parameters (Stripe answers
 *    `idempotency_error` to a reused key with other parameters);
 * 3. the row marked `sent`.
 * A crash between 2 and 3 leaves the row pending: the next run resends it, which Stripe deduplicates (a
 * replayed answer, or "already exists", counts as sent). A crash before 2 sends it late, never twice.
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
      const failures: string[] = [];
      const blocked = new Set<string>();
      const attempt = async (p: repo.MeterPushRow) => {
        try {
          await send(orgId, p);
          sent += 1;
        } catch (err) {
          blocked.add(p.meter);
          const message = (err as Error).message;
          failures.push(message);
          const attempts = await withTenant(orgId, (db) =>
            repo.markPushFailed(db, orgId, p.identifier, message),
          ).catch(() => p.attempts + 1);
          const line = { tenant_id: orgId, push: p.identifier, meter: p.meter, attempts, err: message };
          if (attempts >= 5) deps.log?.error(line, 'Stripe meter push keeps failing');
          else deps.log?.warn(line, 'Stripe meter push failed');
        }
      };
      const pending = await withTenant(orgId, (db) => repo.pendingPushes(db, orgId), { mode: 'read' });
      for (const p of pending) {
        if (!blocked.has(p.meter)) await attempt(p);
      }
      for (const [meter, eventName] of Object.entries(deps.meterEvents)) {
        if (blocked.has(meter)) continue; // its pending push goes first, next run
        const push = await withTenant(orgId, async (db) => {
          const customer = await repo.customerOf(db, orgId, true);
          if (!customer?.subscriptionId || !customer.subscriptionStartedAt) return null;
          const subscriptionId = customer.subscriptionId;
          const total = await repo.usageTotal(db, orgId, meter, customer.subscriptionStartedAt);
          if (total === null) return null;
          const pushed = await repo.pushedTotal(db, orgId, subscriptionId, meter);
          const delta = await sql<{ delta: string; grew: boolean }>`select
              (${total}::numeric - ${pushed}::numeric)::text as delta,
              ${total}::numeric > ${pushed}::numeric as grew`.execute(db);
          const row = delta.rows[0]!;
          if (!row.grew) return null;
          return repo.insertPush(db, orgId, {
            identifier: pushIdentifier(orgId, subscriptionId, meter, total),
            subscriptionId,
            meter,
            eventName,
            customerId: customer.customerId,
            value: row.delta,
            totalAfter: total,
          });
        });
        if (push) await attempt(push);
      }
      if (failures.length > 0) throw new MeterPushFailed(failures.length, failures[0]!);
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
