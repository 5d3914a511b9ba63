import { sql, type RawBuilder } from 'kysely';
import { formatScaled } from '../usage/record-usage.js';
import { scopeStorage, type TenantDb } from '../../platform/tenancy/tenant-database.js';
import { periodBounds, toUnits, type QuotaAggregation, type QuotaDef } from './quota-model.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

export interface QuotaUsageRow extends QuotaDef {
  /** The meter's aggregation: how `usage` is read and how the quota is enforced. */
  readonly aggregation: QuotaAggregation;
  /** The usage of the period holding `at`, in exact units of 10^-12 (`quota-model.ts`): the sum of the
   *  day buckets of `usage_aggregates` (`count`, `sum`), their greatest value (`max`), the value of the
   *  bucket with the latest event (`latest`), or the number of distinct values (`unique_count`, in whole
   *  values times 10^12: the day's bucket, or the month's `usage_unique_values` and the events not
   *  aggregated yet, since no day bucket can add up to it). */
  readonly usage: bigint;
  readonly periodStart: number;
  readonly periodEnd: number;
}

/**
 * The quotas of the organization's plan, each with the usage of its current period: one statement, and
 * one more per monthly `unique_count` quota (`uniqueLookup`'s count, with the meter as a value: a plan
 * made for that meter, which a subquery per quota row of the first statement would not get). `latenessMs`
 * (the ingestion lateness window) bounds what that count reads raw; without it, exact all the same.
 */
export async function quotaUsage(
  db: TenantDb,
  orgId: string,
  at: number,
  latenessMs?: number,
): Promise<QuotaUsageRow[]> {
  const day = periodBounds('day', at);
  const month = periodBounds('month', at);
  // Two statements: the quotas (the organization's plan and the meters: directory and global tables),
  // then their usage (placed tables), on different databases for an organization placed in a tenant
  // database. The second reads each quota's usage by its position in the first's rows.
  const defs = await sql<{
    meter: string;
    period: 'day' | 'month';
    qlimit: string;
    enforcement: 'hard' | 'soft';
    aggregation: QuotaAggregation;
  }>`
    select q.meter, q.period, q."limit"::text as qlimit, q.enforcement, m.aggregation
    from organizations o
      join plans p on p.key = o.plan
      cross join lateral jsonb_to_recordset(p.quotas) as q (meter text, period text, "limit" bigint, enforcement text)
      join meters m on m.key = q.meter
    where o.id = ${orgId}`.execute(db);
  const usage =
    defs.rows.length === 0
      ? []
      : (
          await sql<{ usage: string | null }>`
    select
      case
        when q.aggregation in ('count', 'sum') then
          (select coalesce(sum(a.value), 0)::text from usage_aggregates a
            where a.organization_id = ${orgId} and a.meter = q.meter and a.granularity = 'day'
              and a.bucket_start >= b.s and a.bucket_start < b.e)
        when q.aggregation = 'max' then
          (select max(a.value)::text from usage_aggregates a
            where a.organization_id = ${orgId} and a.meter = q.meter and a.granularity = 'day'
              and a.bucket_start >= b.s and a.bucket_start < b.e)
        when q.aggregation = 'latest' then
          (select a.value::text from usage_aggregates a
            where a.organization_id = ${orgId} and a.meter = q.meter and a.granularity = 'day'
              and a.bucket_start >= b.s and a.bucket_start < b.e
            order by a.latest_at desc, a.latest_id desc limit 1)
        when q.period = 'day' then
          (select a.value::text from usage_aggregates a
            where a.organization_id = ${orgId} and a.meter = q.meter and a.granularity = 'day'
              and a.bucket_start = b.s)
        else null
      end as usage
    from unnest(${defs.rows.map((r) => r.meter)}::text[], ${defs.rows.map((r) => r.period)}::text[],
        ${defs.rows.map((r) => r.aggregation)}::text[]) with ordinality as q (meter, period, aggregation, i)
      cross join lateral (select
          case q.period when 'day' then ${new Date(day.start)}::timestamptz else ${new Date(month.start)}::timestamptz end as s,
          case q.period when 'day' then ${new Date(day.end)}::timestamptz else ${new Date(month.end)}::timestamptz end as e) b
    order by q.i`.execute(db)
        ).rows;
  const res = { rows: defs.rows.map((r, i) => ({ ...r, usage: usage[i]?.usage ?? null })) };
  const rows: QuotaUsageRow[] = [];
  for (const r of res.rows) {
    const b = r.period === 'day' ? day : month;
    if (r.aggregation === 'unique_count' && r.period === 'month') {
      const { distinct } = await uniqueLookup(db, orgId, r.meter, [], month.start, month.end, latenessMs);
      r.usage = String(distinct);
    }
    rows.push({
      meter: r.meter,
      period: r.period,
      limit: Number(r.qlimit),
      enforcement: r.enforcement,
      aggregation: r.aggregation,
      usage: r.usage === null ? 0n : toUnits(r.usage),
      periodStart: b.start,
      periodEnd: b.end,
    });
  }
  return rows;
}

/**
 * Over a `unique_count` hard quota: which of `values` are already among the period's values of the meter
 * (this organization's), and how many distinct values the period holds. One statement for a whole batch's
 * values. A month: probes of `usage_unique_values` (the distinct values the aggregator keeps per month,
 * migration 0063) by primary key and their count (one index range, as long as the month's distinct
 * values), plus the values of the events not aggregated yet: those at or above the watermark
 * (`usage_aggregator_state.horizon`), read in the same statement, so in one snapshot: exact whatever the
 * aggregator does (in a `database` placement's scope, read just before: `watermarkOf`). Those events were accepted since the watermark last moved, so none is older than that
 * moment minus the lateness window and a day (the aggregator's own bound): given `latenessMs`, only the
 * partitions from there on are read, through the BRIN index on `xid` and the (organization_id, meter,
 * occurred_at) index together; without it, the month's partitions. A day: one scan of the day's events
 * through the (organization_id, meter, occurred_at) index.
 */
export async function uniqueLookup(
  db: TenantDb,
  orgId: string,
  meter: string,
  values: readonly string[],
  start: number,
  end: number,
  latenessMs?: number,
): Promise<{ present: string[]; distinct: number }> {
  const month = periodBounds('month', start);
  if (month.start === start && month.end === end) {
    const monthDate = new Date(month.start).toISOString().slice(0, 10);
    const lateness = latenessMs === undefined ? null : Math.ceil(latenessMs);
    const watermark = await watermarkOf(db);
    const res = await sql<{ present: string[] | null; n: string }>`
      with r as materialized (
        select distinct sha256(convert_to(e.dimension, 'UTF8')) as d from usage_events e
         where e.organization_id = ${orgId} and e.meter = ${meter} and e.dimension is not null
           and e.occurred_at >= greatest(${new Date(start)}::timestamptz,
             ${watermark.movedAt} - ${lateness}::bigint * interval '1 millisecond' - interval '1 day')
           and e.occurred_at < ${new Date(end)}::timestamptz
           and e.xid >= ${watermark.horizon})
      select array(select x from unnest(${[...values]}::text[]) x
          where exists (select 1 from usage_unique_values u where u.organization_id = ${orgId}
                  and u.meter = ${meter} and u.month = ${monthDate}::date
                  and u.value_digest = sha256(convert_to(x, 'UTF8')))
             or exists (select 1 from r where r.d = sha256(convert_to(x, 'UTF8')))) as present,
        ((select count(*) from usage_unique_values u
           where u.organization_id = ${orgId} and u.meter = ${meter} and u.month = ${monthDate}::date)
         + (select count(*) from r where not exists (select 1 from usage_unique_values u
             where u.organization_id = ${orgId} and u.meter = ${meter} and u.month = ${monthDate}::date
               and u.value_digest = r.d)))::text as n`.execute(db);
    const r = res.rows[0];
    return { present: r?.present ?? [], distinct: Number(r?.n ?? 0) };
  }
  // One scan of the period's events (the index bounds it; each row's dimension is read from the table).
  const res = await sql<{ present: string[] | null; n: string }>`
    select array_agg(distinct e.dimension) filter (where e.dimension = any(${[...values]}::text[])) as present,
      count(distinct e.dimension)::text as n
    from usage_events e
    where e.organization_id = ${orgId} and e.meter = ${meter}
      and e.occurred_at >= ${new Date(start)} and e.occurred_at < ${new Date(end)}`.execute(db);
  const r = res.rows[0];
  return { present: r?.present ?? [], distinct: Number(r?.n ?? 0) };
}

/**
 * The aggregator's watermark as `uniqueLookup` reads it: subqueries of its own statement, or, in a
 * `database` placement's scope (where `usage_aggregator_state`, a global table, is on the control
 * database and the events on the tenant database), values read by a statement of their own first. Read
 * earlier, the watermark is at most older (it only moves forward): the events read from it on are then a
 * superset, whose values the aggregator already kept are counted once all the same (by digest).
 */
async function watermarkOf(
  db: TenantDb,
): Promise<{ movedAt: RawBuilder<unknown>; horizon: RawBuilder<unknown> }> {
  if (!scopeStorage.getStore()?.splitsDirectory) {
    return {
      movedAt: sql`(select least(now(), s.updated_at) from usage_aggregator_state s)`,
      horizon: sql`(select s.horizon::text::bigint from usage_aggregator_state s)`,
    };
  }
  const state = await sql<{ moved_at: Date | null; horizon: string | null }>`
    select least(now(), s.updated_at) as moved_at, s.horizon::text as horizon
      from usage_aggregator_state s`.execute(db);
  const row = state.rows[0];
  return {
    movedAt: sql`${row?.moved_at ?? null}::timestamptz`,
    horizon: sql`${row?.horizon ?? null}::bigint`,
  };
}

/** Records a notice; true when this call inserted it (false: it was sent before). */
export async function insertNotice(
  db: TenantDb,
  row: {
    organizationId: string;
    id: string;
    meter: string;
    period: string;
    periodStart: Date;
    threshold: 80 | 100;
    enforcement: string;
    limit: number;
    /** Units of 10^-12. */
    usage: bigint;
  },
): Promise<boolean> {
  const res = await sql<{ id: string }>`
    insert into quota_notices (organization_id, id, meter, period, period_start, threshold, enforcement,
      quota_limit, usage)
    values (${row.organizationId}, ${row.id}, ${row.meter}, ${row.period}, ${row.periodStart}, ${row.threshold},
      ${row.enforcement}, ${row.limit}, ${formatScaled(row.usage)}::numeric)
    on conflict (organization_id, meter, period, period_start, threshold) do nothing
    returning id`.execute(db);
  return res.rows.length === 1;
}

/** The active owners' user ids and addresses, and the organization's name and slug. */
export async function ownersOf(
  db: TenantDb,
  orgId: string,
): Promise<{ name: string; slug: string; owners: { userId: string; email: string }[] }> {
  const res = await sql<{ name: string; slug: string; user_id: string | null; email: string | null }>`
    select o.name, o.slug, u.id as user_id, u.email from organizations o
      left join memberships m on m.organization_id = ${orgId} and m.organization_id = o.id and m.role = 'owner' and m.status = 'active'
      left join users u on u.id = m.user_id
    where o.id = ${orgId}
    order by u.id`.execute(db);
  const name = res.rows[0]?.name ?? '';
  const slug = res.rows[0]?.slug ?? '';
  const owners = res.rows
    .filter((r) => r.user_id !== null && r.email !== null)
    .map((r) => ({ userId: r.user_id!, email: r.email! }));
  return { name, slug, owners };
}

/** The notices of the organization (newest first), for tests and support. */
export async function listNotices(
  db: TenantDb,
  orgId: string,
): Promise<{ meter: string; period: string; periodStart: Date; threshold: number }[]> {
  const res = await sql<{ meter: string; period: string; period_start: Date; threshold: number }>`
    select meter, period, period_start, threshold from quota_notices
    where organization_id = ${orgId} order by created_at desc, threshold desc`.execute(db);
  return res.rows.map((r) => ({
    meter: r.meter,
    period: r.period,
    periodStart: r.period_start,
    threshold: r.threshold,
  }));
}
