import { sql } from 'kysely';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { MeterCatalog } from './meter-catalog.js';
import { meterNotFound, UsageError } from './usage.errors.js';
import { METER_KEY_RE, type Aggregation } from './usage-model.js';

export type Granularity = 'minute' | 'hour' | 'day';

const STEP_MS: Record<Granularity, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** The most buckets one summary spans: a day of minutes, 31 days of hours, 366 days. */
export const MAX_BUCKETS: Record<Granularity, number> = { minute: 1440, hour: 744, day: 366 };

export interface UsageBucket {
  start: string;
  /** Exact decimal, as text. */
  value: string;
  /** Events stored in the bucket. */
  events: number;
}

export interface UsageSummary {
  meter: string;
  aggregation: Aggregation;
  unit: string;
  granularity: Granularity;
  /** `from` rounded down to its bucket, and `to` (exclusive). */
  from: string;
  to: string;
  /** The buckets that hold events, oldest first (a bucket without events is absent). */
  buckets: UsageBucket[];
}

export interface UsageSummaryService {
  /** Buckets of `meter` in [from, to) for the ctx's organization, from the aggregates (never raw events). */
  summary(
    ctx: TenantCtx,
    q: { meter: string; from: string; to: string; granularity: Granularity },
  ): Promise<UsageSummary>;
}

export function createUsageSummaryService(deps: {
  withTenant: WithTenant;
  meters: MeterCatalog;
}): UsageSummaryService {
  return {
    async summary(ctx, q) {
      if (!METER_KEY_RE.test(q.meter)) throw meterNotFound();
      const got = deps.meters.get(q.meter);
      const meter = got instanceof Promise ? await got : got;
      if (!meter) throw meterNotFound();
      const step = STEP_MS[q.granularity];
      const fromMs = Date.parse(q.from);
      const toMs = Date.parse(q.to);
      if (Number.isNaN(fromMs) || Number.isNaN(toMs) || toMs <= fromMs) {
        throw new UsageError('USAGE_INVALID', 'from and to must be date-times with from < to');
      }
      const start = Math.floor(fromMs / step) * step;
      if ((toMs - start) / step > MAX_BUCKETS[q.granularity]) {
        throw new UsageError(
          'USAGE_RANGE_TOO_LARGE',
          `at most ${MAX_BUCKETS[q.granularity]} ${q.granularity} buckets per summary`,
          { maxBuckets: MAX_BUCKETS[q.granularity] },
        );
      }
      const from = new Date(start);
      const to = new Date(toMs);
      const rows = await deps.withTenant(
        ctx.tenantId,
        async (db) =>
          (
            await sql<{ bucket_start: Date; value: string; events: string }>`select bucket_start,
              value::text as value, events from usage_aggregates
              where organization_id = ${ctx.tenantId}::uuid and meter = ${q.meter}
                and granularity = ${q.granularity} and bucket_start >= ${from} and bucket_start < ${to}
              order by bucket_start`.execute(db)
          ).rows,
        { mode: 'read' },
      );
      return {
        meter: meter.key,
        aggregation: meter.aggregation,
        unit: meter.unit,
        granularity: q.granularity,
        from: from.toISOString(),
        to: to.toISOString(),
        buckets: rows.map((r) => ({
          start: r.bucket_start.toISOString(),
          value: r.value,
          events: Number(r.events),
        })),
      };
    },
  };
}
