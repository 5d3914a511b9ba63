import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { PlanPrice } from './price-model.js';

// What the live billing inputs read, in the organization's scope. Every query filters by organization_id
// explicitly (RLS is the backstop). `plans` is the global catalog the runtime role may read.

export interface PlanChangeRow {
  from_plan: string;
  to_plan: string;
  changed_at: Date;
}

/** The organization's current plan and creation time. */
export function organizationPlanRow(
  db: TenantDb,
  orgId: string,
): Promise<{ plan: string; created_at: Date } | undefined> {
  return db
    .selectFrom('organizations')
    .select(['plan', 'created_at'])
    .where('id', '=', orgId)
    .executeTakeFirst();
}

/** The last plan change strictly before `before`, or undefined. */
export function lastChangeBefore(
  db: TenantDb,
  orgId: string,
  before: Date,
): Promise<PlanChangeRow | undefined> {
  return db
    .selectFrom('organization_plan_changes')
    .select(['from_plan', 'to_plan', 'changed_at'])
    .where('organization_id', '=', orgId)
    .where('changed_at', '<', before)
    .orderBy('changed_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The organization's first plan change ever, or undefined. */
export function firstChange(db: TenantDb, orgId: string): Promise<PlanChangeRow | undefined> {
  return db
    .selectFrom('organization_plan_changes')
    .select(['from_plan', 'to_plan', 'changed_at'])
    .where('organization_id', '=', orgId)
    .orderBy('changed_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
}

/** The plan changes in [from, to), oldest first (ids are UUIDv7: ties in time keep insertion order). */
export function changesBetween(db: TenantDb, orgId: string, from: Date, to: Date): Promise<PlanChangeRow[]> {
  return db
    .selectFrom('organization_plan_changes')
    .select(['from_plan', 'to_plan', 'changed_at'])
    .where('organization_id', '=', orgId)
    .where('changed_at', '>=', from)
    .where('changed_at', '<', to)
    .orderBy('changed_at')
    .orderBy('id')
    .execute();
}

/** The catalog prices of `keys`. */
export async function planPrices(db: TenantDb, keys: string[]): Promise<Map<string, PlanPrice>> {
  if (keys.length === 0) return new Map();
  const rows = await db.selectFrom('plans').select(['key', 'price']).where('key', 'in', keys).execute();
  return new Map(rows.map((r) => [r.key, r.price as PlanPrice]));
}

/** The organization's active memberships now. */
export async function activeMemberships(db: TenantDb, orgId: string): Promise<number> {
  const row = await db
    .selectFrom('memberships')
    .select(sql<string>`count(*)`.as('n'))
    .where('organization_id', '=', orgId)
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface MeterUsageRow {
  meter: string;
  aggregation: string;
  /** Exact decimal, as text. */
  value: string;
}

/**
 * The usage of `meters` in [from, to) from the DAY aggregates (UTC days; every aggregated event is in its
 * day bucket, the current day's included): count and sum add up, max takes the largest, latest the value
 * of the latest event. A unique_count cannot be combined from days: its value is the number of distinct
 * values over the period's calendar months (UTC) in `usage_unique_values` (migration 0063), which the
 * aggregator keeps with the buckets; `from` and `to` must then be first days of months (the caller checks).
 */
export async function periodUsage(
  db: TenantDb,
  orgId: string,
  meters: string[],
  from: Date,
  to: Date,
): Promise<MeterUsageRow[]> {
  if (meters.length === 0) return [];
  const [fromDay, toDay] = [from.toISOString().slice(0, 10), to.toISOString().slice(0, 10)];
  const res = await sql<MeterUsageRow>`select meter, aggregation,
      (case when aggregation = 'max' then max(value)
            when aggregation = 'latest'
              then (array_agg(value order by latest_at desc nulls last, latest_id desc nulls last))[1]
            else sum(value) end)::text as value
    from usage_aggregates
    where organization_id = ${orgId}::uuid and granularity = 'day' and aggregation <> 'unique_count'
      and meter = any(${meters}::text[]) and bucket_start >= ${from} and bucket_start < ${to}
    group by meter, aggregation`.execute(db);
  const unique = await sql<MeterUsageRow>`select meter, 'unique_count' as aggregation,
      count(distinct value_digest)::text as value
    from usage_unique_values
    where organization_id = ${orgId}::uuid and meter = any(${meters}::text[])
      and month >= ${fromDay}::date and month < ${toDay}::date
    group by meter`.execute(db);
  return [...res.rows, ...unique.rows];
}
