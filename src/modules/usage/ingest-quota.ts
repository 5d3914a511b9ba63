import type { QuotaExceeded } from '../quotas/quota-model.js';
import type { UniqueLookups } from '../quotas/quota-counters.js';
import type { UsageEventInput } from './usage-events.service.js';
import { resolveValue, type MeterDef } from './usage-model.js';

/**
 * The hard quotas of client events (src/modules/quotas): `tryConsume` counts an event that fits and
 * answers the exceeded quota otherwise; `add` gives a count back (negative) for an event not stored after
 * all. Internal events (recorded usage) are never checked: the request path checked them already.
 */
export interface IngestQuotaGate {
  /** Loads the quotas of the periods holding `at` (an event's own period, late or early). */
  ready(orgId: string, at: number): void | Promise<void>;
  /** `amount` in units of 10^-12 (exact decimals). */
  tryConsume(orgId: string, meter: string, amount: bigint, at: number): QuotaExceeded | null;
  /** Whether a loaded quota applies to `meter` at `at` (after `ready`): if not, `tryConsume` and `add`
   *  do nothing, and the event's amount is not even converted. */
  applies(orgId: string, meter: string, at: number): boolean;
  add(orgId: string, meter: string, amount: bigint, at: number): void;
  /** A `unique_count` event's value: null (accepted), the exceeded quota, or 'lookup' (`lookupUnique`,
   *  then ask again with its answer). */
  tryUnique(
    orgId: string,
    meter: string,
    value: string,
    at: number,
    looked?: UniqueLookups,
  ): QuotaExceeded | null | 'lookup';
  /** One query per quota reached for a batch's values: which the period holds, and its exact count. */
  lookupUnique(
    orgId: string,
    meter: string,
    entries: readonly { value: string; at: number }[],
  ): Promise<UniqueLookups>;
  /** The single-value rule (one value looked up, then decided). */
  checkUnique(orgId: string, meter: string, value: string, at: number): Promise<QuotaExceeded | null>;
}

export const quotaMessage = (q: QuotaExceeded) =>
  `the ${q.period === 'day' ? 'daily' : 'monthly'} quota of ${q.limit} ${q.meter} is reached (${q.usage} used); it resets at ${q.resetAt}`;

/** A `max` or `latest` event refused: its own value is over the limit (the period's usage is not). */
export const valueOverMessage = (value: string, q: QuotaExceeded) =>
  `the value ${value} exceeds the ${q.period === 'day' ? 'daily' : 'monthly'} quota of ${q.limit} ${q.meter} (the most one event may report; ${q.usage} is the period's usage so far); it resets at ${q.resetAt}`;

/** The values of the batch's events from `from` on of `meter` (a `unique_count` one) that can be stored:
 *  looked up together when the first of them needs a lookup. */
export function laterValues(
  events: readonly UsageEventInput[],
  from: number,
  meter: MeterDef,
  instant: (timestamp: string) => number,
  earliest: number,
  latest: number,
): { value: string; at: number }[] {
  const out: { value: string; at: number }[] = [];
  for (let j = from; j < events.length; j++) {
    const f = events[j]!;
    if (f.meter !== meter.key) continue;
    const at = instant(f.timestamp);
    if (!(at >= earliest && at <= latest)) continue;
    const r = resolveValue(meter, f.value, f.properties);
    if (r?.dimension) out.push({ value: r.dimension, at });
  }
  return out;
}
