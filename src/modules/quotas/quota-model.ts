import type { PlanQuota } from '../plans/plan-model.js';

export type QuotaPeriod = PlanQuota['period'];

/** A quota of the organization's plan on a meter whose usage adds up (`count` or `sum`). */
export interface QuotaDef {
  readonly meter: string;
  readonly period: QuotaPeriod;
  readonly limit: number;
  readonly enforcement: PlanQuota['enforcement'];
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

export function exceeded(q: QuotaDef, usage: number, end: number, now: number): QuotaExceeded {
  return {
    meter: q.meter,
    period: q.period,
    limit: q.limit,
    // Counters of sum meters add decimals as doubles: shown at 12 significant digits (0.3, not 0.30000000000000004).
    usage: Number(usage.toPrecision(12)),
    resetAt: new Date(end).toISOString(),
    retryAfterSeconds: Math.max(1, Math.ceil((end - now) / 1000)),
  };
}

/** The message of a refusal. */
export function exceededMessage(e: QuotaExceeded): string {
  return `the plan allows ${e.limit} ${e.meter} a ${e.period} and ${e.usage} are used; it resets at ${e.resetAt}`;
}
