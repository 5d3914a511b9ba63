import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import * as repo from './stripe.repository.js';
import * as pushes from './stripe-meter-pushes.repository.js';

/** The scheduled task that pushes usage to Stripe as meter events. */
export const STRIPE_METER_PUSH_TASK = 'billing_stripe_meter_push';
/** Every 10 minutes (graphile-worker crontab). */
export const STRIPE_METER_PUSH_CRONTAB = `*/10 * * * * ${STRIPE_METER_PUSH_TASK}\n`;

interface StripeErrorLike {
  type?: string;
  code?: string;
  statusCode?: number;
  message?: string;
  raw?: { code?: string; message?: string };
}

/**
 * Stripe's answer to a meter event whose identifier it has already recorded (the usage is already there:
 * counts as sent). Stripe's API reference names the code `duplicate_meter_event` ("A meter event with a
 * duplicate identifier has already been submitted"); it is also recognized by its message (an answer that
 * carries no code) and by `resource_already_exists`. docs/billing.md says what is assumed.
 */
export function alreadyRecorded(err: unknown): boolean {
  const e = (err ?? {}) as StripeErrorLike;
  const codes = [e.code, e.raw?.code];
  if (codes.includes('duplicate_meter_event') || codes.includes('resource_already_exists')) return true;
  const message = `${e.message ?? ''} ${e.raw?.message ?? ''}`;
  return e.statusCode === 400 && /already exists with identifier|duplicate identifier/i.test(message);
}

/**
 * A refusal Stripe will give again to the same request: a 4xx other than an authentication or permission
 * failure (the key, not the push), a conflict or rate limit (retried), or an idempotency error (a resend
 * with other parameters: a bug, never to be papered over by pushing again).
 */
export function refusedForGood(err: unknown): boolean {
  const e = (err ?? {}) as StripeErrorLike;
  const status = e.statusCode;
  if (status === undefined || status < 400 || status >= 500) return false;
  if ([401, 403, 409, 429].includes(status)) return false;
  return e.type !== 'StripeIdempotencyError' && e.type !== 'idempotency_error';
}

/**
 * A push identifier: deterministic, and at most 43 characters whatever the meter key and total.
 * `abandoned`: how many pushes of the subscription and meter Stripe refused for good (a re-push of the same
 * total is a new meter event, under a new identifier).
 */
export function pushIdentifier(
  orgId: string,
  subscriptionId: string,
  meter: string,
  total: string,
  abandoned = 0,
): string {
  const again = abandoned > 0 ? `|${abandoned}` : '';
  return `sr-${createHash('sha256').update(`${orgId}|${subscriptionId}|${meter}|${total}${again}`).digest('hex').slice(0, 40)}`;
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
 * Usage → Stripe meter events, never pushed twice, per subscription. Per organization, subscription and
 * meter the ledger (`stripe_meter_pushes`) holds what was pushed; a push is:
 * 1. in the organization's transaction, under its `stripe_customers` row lock: the meter's usage since the
 *    current subscription's usage start, rounded DOWN to a whole number (Stripe's meters are summed and a
 *    fraction would be refused or rounded there; the remainder waits for the next push), minus what was
 *    pushed for that subscription; if positive, a `pending` row with the delta, the new total and the
 *    identifier `sr-<hash of org, subscription, meter, new total[, abandoned count]>` (deterministic; the
 *    unique (organization, subscription, meter, total) index, abandoned rows left out, refuses a second
 *    one). The row's `created_at` (RETURNING) is the event's timestamp;
 * 2. `stripe.billing.meterEvents.create` built from the stored row ONLY, with the identifier as the
 *    idempotency key: a resend carries exactly the first send's parameters (Stripe answers
 *    `idempotency_error` to a reused key with other parameters);
 * 3. the row marked `sent`.
 * A crash between 2 and 3 leaves the row pending: the next run resends it, which Stripe deduplicates (a
 * replayed answer, or "duplicate identifier", counts as sent). A crash before 2 sends it late, never twice.
 * A push Stripe refuses for good (a 4xx, {@link refusedForGood}) is marked `abandoned` and logged as an
 * error: it counts in no total, so its amount goes in the next push, under a new identifier and timestamp.
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

  async function send(orgId: string, p: pushes.MeterPushRow): Promise<void> {
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
    await withTenant(orgId, (db) => pushes.markPushSent(db, orgId, p.identifier));
  }

  /** Under the customer row lock: the meter's next push of the current subscription, if its usage grew. */
  async function nextPush(
    db: TenantDb,
    orgId: string,
    meter: string,
    eventName: string,
  ): Promise<pushes.MeterPushRow | null> {
    const customer = await repo.customerOf(db, orgId, true);
    if (!customer?.subscriptionId || !customer.subscriptionStartedAt) return null;
    const subscriptionId = customer.subscriptionId;
    const usage = await pushes.usageTotal(db, orgId, meter, customer.subscriptionStartedAt);
    if (usage === null) return null;
    const pushed = await pushes.pushedTotal(db, orgId, subscriptionId, meter);
    const delta = await sql<{ total: string; delta: string; grew: boolean }>`select
        floor(${usage}::numeric)::text as total,
        (floor(${usage}::numeric) - ${pushed.total}::numeric)::text as delta,
        floor(${usage}::numeric) > ${pushed.total}::numeric as grew`.execute(db);
    const row = delta.rows[0]!;
    if (!row.grew) return null;
    return pushes.insertPush(db, orgId, {
      identifier: pushIdentifier(orgId, subscriptionId, meter, row.total, pushed.abandoned),
      subscriptionId,
      meter,
      eventName,
      customerId: customer.customerId,
      value: row.delta,
      totalAfter: row.total,
    });
  }

  return {
    async pushOrganization(orgId) {
      let sent = 0;
      const failures: string[] = [];
      const blocked = new Set<string>();
      const attempt = async (p: pushes.MeterPushRow) => {
        try {
          await send(orgId, p);
          sent += 1;
        } catch (err) {
          // The meter waits for the next run (a pending push first; after an abandoned one, the re-push).
          blocked.add(p.meter);
          const message = (err as Error).message;
          failures.push(message);
          if (refusedForGood(err)) {
            // Never accepted: not counted, so its amount goes in the meter's next push (a new identifier).
            await withTenant(orgId, (db) => pushes.markPushAbandoned(db, orgId, p.identifier, message)).catch(
              () => undefined,
            );
            deps.log?.error(
              { tenant_id: orgId, push: p.identifier, meter: p.meter, value: p.value, err: message },
              'Stripe refused a meter push for good: abandoned, its usage goes in the next push',
            );
            return;
          }
          const attempts = await withTenant(orgId, (db) =>
            pushes.markPushFailed(db, orgId, p.identifier, message),
          ).catch(() => p.attempts + 1);
          const line = { tenant_id: orgId, push: p.identifier, meter: p.meter, attempts, err: message };
          if (attempts >= 5) deps.log?.error(line, 'Stripe meter push keeps failing');
          else deps.log?.warn(line, 'Stripe meter push failed');
        }
      };
      const pending = await withTenant(orgId, (db) => pushes.pendingPushes(db, orgId), { mode: 'read' });
      for (const p of pending) {
        if (!blocked.has(p.meter)) await attempt(p);
      }
      for (const [meter, eventName] of Object.entries(deps.meterEvents)) {
        if (blocked.has(meter)) continue; // its pending push goes first, next run
        let push: pushes.MeterPushRow | null;
        try {
          push = await withTenant(orgId, (db) => nextPush(db, orgId, meter, eventName));
        } catch (err) {
          // One meter's failure (its row refused, the database) does not stop the others.
          const message = (err as Error).message;
          failures.push(message);
          deps.log?.warn(
            { tenant_id: orgId, meter, err: message },
            'Stripe meter push could not be prepared',
          );
          continue;
        }
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
