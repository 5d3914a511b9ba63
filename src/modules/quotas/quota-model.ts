import type { PlanQuota } from '../plans/plan-model.js';
import { formatScaled, toScaled } from '../usage/record-usage.js';

export type QuotaPeriod = PlanQuota['period'];

/** How a quota's meter aggregates (`src/modules/usage`): `count` and `sum` add up, the others do not. */
export type QuotaAggregation = 'count' | 'sum' | 'max' | 'latest' | 'unique_count';

/** A quota of the organization's plan. */
export interface QuotaDef {
  readonly meter: string;
  readonly period: QuotaPeriod;
  readonly limit: number;
  readonly enforcement: PlanQuota['enforcement'];
}

/** Quota arithmetic is exact: amounts are integer counts of 10^-12 (the precision ingestion accepts), the
 *  same scale as the usage recorder, never doubles (0.7 + 0.1 + 0.2 is exactly 1). */
export const UNIT = 10n ** 12n;

/** A decimal text or number (at most 12 decimals) in units of 10^-12; 0 when not a number. */
export function toUnits(value: number | string): bigint {
  return toScaled(value) ?? 0n;
}

/** Units back to a number for display (the canonical decimal text, parsed: 0.3, never 0.30000000000000004). */
export function fromUnits(units: bigint): number {
  return Number(formatScaled(units));
}

/** [start, end) of the UTC calendar period holding `ms`. */
export function periodBounds(period: QuotaPeriod, ms: number): { start: number; end: number } {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  if (period === 'day') {
    const start = Date.UTC(y, m, d.getUTCDate());
    return { start, end: start + 86_400_000 };
  }
  return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
}

/** What a refused request or event is told (the body of 429 `QUOTA_EXCEEDED`, under `error.details`). */
export interface QuotaExceeded {
  readonly meter: string;
  readonly period: QuotaPeriod;
  readonly limit: number;
  /** The usage the instance counted for the period (see docs/plans.md for its accuracy). */
  readonly usage: number;
  /** The start of the next period (ISO 8601, UTC): when the quota resets. */
  readonly resetAt: string;
  /** Whole seconds until `resetAt` (at least 1): the `Retry-After` header. */
  readonly retryAfterSeconds: number;
}

export function exceeded(q: QuotaDef, usage: bigint, end: number, now: number): QuotaExceeded {
  return {
    meter: q.meter,
    period: q.period,
    limit: q.limit,
    usage: fromUnits(usage),
    resetAt: new Date(end).toISOString(),
    retryAfterSeconds: Math.max(1, Math.ceil((end - now) / 1000)),
  };
}

/** The message of a refusal. */
export function exceededMessage(e: QuotaExceeded): string {
  return `the plan allows ${e.limit} ${e.meter} a ${e.period} and ${e.usage} are used; it resets at ${e.resetAt}`;
}
