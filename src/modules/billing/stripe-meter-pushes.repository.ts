/** The Stripe meter events to push, pushed or given up (stripe-meter-push.ts), per organization. */
import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

export interface MeterPushRow {
  identifier: string;
  meter: string;
  eventName: string;
  customerId: string;
  /** numeric, as the database prints it. */
  value: string;
  /** The meter event's timestamp: the row's, so every send of it carries the same parameters. */
  createdAt: Date;
  attempts: number;
}

const PUSH_COLUMNS = [
  'identifier',
  'meter',
  'event_name',
  'customer_id',
  'value',
  'created_at',
  'attempts',
] as const;
const pushRow = (r: {
  identifier: string;
  meter: string;
  event_name: string;
  customer_id: string;
  value: string;
  created_at: Date;
  attempts: number;
}): MeterPushRow => ({
  identifier: r.identifier,
  meter: r.meter,
  eventName: r.event_name,
  customerId: r.customer_id,
  value: r.value,
  createdAt: r.created_at,
  attempts: r.attempts,
});

export async function pendingPushes(db: TenantDb, orgId: string): Promise<MeterPushRow[]> {
  const rows = await db
    .selectFrom('stripe_meter_pushes')
    .select(PUSH_COLUMNS)
    .where('organization_id', '=', orgId)
    .where('status', '=', 'pending')
    .orderBy('created_at')
    .limit(1000)
    .execute();
  return rows.map(pushRow);
}

/** The usage of `meter` pushed so far for the subscription (sent or pending: a pending push is resent,
 *  never redone; an abandoned one counts nowhere, its amount is pushed again), and how many of its pushes
 *  were abandoned (part of the next identifier, so the re-push is a new meter event). */
export async function pushedTotal(
  db: TenantDb,
  orgId: string,
  subscriptionId: string,
  meter: string,
): Promise<{ total: string; abandoned: number }> {
  const r = await sql<{ total: string; abandoned: number }>`select
      coalesce(max(total_after) filter (where status <> 'abandoned'), 0)::text as total,
      (count(*) filter (where status = 'abandoned'))::int as abandoned
    from stripe_meter_pushes where organization_id = ${orgId}::uuid and subscription_id = ${subscriptionId}
      and meter = ${meter}`.execute(db);
  return r.rows[0]!;
}

const ceilTo = (t: number, step: number) => Math.ceil(t / step) * step;

/**
 * The usage of a count or sum meter since `since` (null for another aggregation): the minute buckets from
 * `since`'s minute to the end of its hour, the hour buckets from there to the end of its UTC day, then the
 * day buckets after that day. Nothing before `since`'s minute counts.
 */
export async function usageTotal(
  db: TenantDb,
  orgId: string,
  meter: string,
  since: Date,
): Promise<string | null> {
  const minute = Math.floor(since.getTime() / 60_000) * 60_000;
  const nextDay = new Date(Math.floor(since.getTime() / 86_400_000) * 86_400_000 + 86_400_000);
  const hour = new Date(Math.min(ceilTo(minute, 3_600_000), nextDay.getTime()));
  const r = await sql<{ total: string | null; other: boolean }>`select coalesce(sum(value), 0)::text as total,
      bool_or(aggregation not in ('count', 'sum')) as other
    from usage_aggregates
    where organization_id = ${orgId}::uuid and meter = ${meter}
      and ((granularity = 'minute' and bucket_start >= ${new Date(minute)} and bucket_start < ${hour})
        or (granularity = 'hour' and bucket_start >= ${hour} and bucket_start < ${nextDay})
        or (granularity = 'day' and bucket_start >= ${nextDay}))`.execute(db);
  const row = r.rows[0];
  return !row || row.other ? null : row.total;
}

/** Inserts a pending push; returns it as stored (its `created_at` is the meter event's timestamp). */
export async function insertPush(
  db: TenantDb,
  orgId: string,
  p: {
    identifier: string;
    subscriptionId: string;
    meter: string;
    eventName: string;
    customerId: string;
    value: string;
    totalAfter: string;
  },
): Promise<MeterPushRow> {
  const r = await db
    .insertInto('stripe_meter_pushes')
    .values({
      organization_id: orgId,
      identifier: p.identifier,
      subscription_id: p.subscriptionId,
      meter: p.meter,
      event_name: p.eventName,
      customer_id: p.customerId,
      value: p.value,
      total_after: p.totalAfter,
    })
    .returning(PUSH_COLUMNS)
    .executeTakeFirstOrThrow();
  return pushRow(r);
}

export async function markPushSent(db: TenantDb, orgId: string, identifier: string): Promise<void> {
  await db
    .updateTable('stripe_meter_pushes')
    .set({ status: 'sent', sent_at: new Date() })
    .where('organization_id', '=', orgId)
    .where('identifier', '=', identifier)
    .execute();
}

/** Stripe refused the push for good: it counts nowhere any more (its amount is pushed again). */
export async function markPushAbandoned(
  db: TenantDb,
  orgId: string,
  identifier: string,
  error: string,
): Promise<void> {
  await db
    .updateTable('stripe_meter_pushes')
    .set((eb) => ({
      status: 'abandoned' as const,
      attempts: eb('attempts', '+', 1),
      last_error: error.slice(0, 500),
    }))
    .where('organization_id', '=', orgId)
    .where('identifier', '=', identifier)
    .where('status', '=', 'pending')
    .execute();
}

/** Counts a failed send of a pending push and keeps its error (no secret: Stripe's message). */
export async function markPushFailed(
  db: TenantDb,
  orgId: string,
  identifier: string,
  error: string,
): Promise<number> {
  const r = await db
    .updateTable('stripe_meter_pushes')
    .set((eb) => ({ attempts: eb('attempts', '+', 1), last_error: error.slice(0, 500) }))
    .where('organization_id', '=', orgId)
    .where('identifier', '=', identifier)
    .where('status', '=', 'pending')
    .returning('attempts')
    .executeTakeFirst();
  return r?.attempts ?? 0;
}
