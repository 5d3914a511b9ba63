import { UNIT, type QuotaAggregation } from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';

/** What an instance knows of one quota period's usage (`quota-counters.ts`), by meter kind. */
export interface Counter {
  /** Units of 10^-12: the running total (`count`, `sum`), the known max or latest value, or the known
   *  distinct count (`unique_count`, whole values times 10^12). */
  units: bigint;
  end: number;
  lastUsed: number;
  /** A refusal was reported for this period (the notice is sent once per instance and period). */
  refused: boolean;
  /** `latest`: the timestamp of the event whose value `units` holds, if this instance accepted it. */
  latestAt?: number;
  /** `unique_count`: the values this instance accepted recently, with when it counted them (bounded,
   *  oldest dropped); 0 for a value the database already held (known, not counted). */
  recent?: Map<string, number>;
}

/** Values a `unique_count` counter remembers (per organization, meter and period). */
const MAX_RECENT = 10_000;
/** Values all `unique_count` counters of an instance remember together (memory grows with it, not with organizations). */
export const MAX_RECENT_TOTAL = 200_000;

/** How many recent values the counters of an instance hold, against their total cap. */
export interface RecentBudget {
  total: number;
  readonly cap: number;
}
/** How long an accepted value may take to be stored (a batch's insert and commit). */
const COMMIT_MS = 5_000;

export const isAdditive = (a: QuotaAggregation) => a === 'count' || a === 'sum';

/** A counter read again (`r`: the usage read, `started`: when the read began), by its meter's kind. */
export function reread(
  c: Counter,
  r: QuotaUsageRow,
  started: number,
  lagMs: number,
  budget: RecentBudget,
): void {
  if (r.aggregation === 'latest') {
    // The aggregated latest value, unless this instance accepted one that may not be aggregated yet.
    if (c.latestAt === undefined || started - c.lastUsed > lagMs) {
      c.units = r.usage;
      c.latestAt = undefined;
    }
  } else if (r.aggregation === 'unique_count') {
    // The period's distinct count, plus the values this instance accepted that may not be in it yet
    // (a value both aggregated and recent counts twice until it ages out: never fewer than happened).
    let recent = 0n;
    if (c.recent) {
      const before = c.recent.size;
      for (const [v, when] of c.recent) if (started - when > lagMs) c.recent.delete(v);
      budget.total -= before - c.recent.size;
      recent = BigInt(c.recent.size) * UNIT; // known values (0) are gone: the read counts them
    }
    c.units = r.usage + recent;
  } else {
    // `count`, `sum`: never below what this instance counted (its recent usage is not aggregated yet);
    // `max`: the greater of the aggregated max and the values this instance accepted.
    c.units = c.units > r.usage ? c.units : r.usage;
  }
}

/** Records an accepted `unique_count` value; `known`: the database holds it already (not new). */
export function recordUnique(
  c: Counter,
  value: string,
  t: number,
  known: boolean,
  budget: RecentBudget,
): void {
  c.lastUsed = t;
  const recent = (c.recent ??= new Map());
  if (recent.has(value)) return;
  if (recent.size >= MAX_RECENT) recent.delete(recent.keys().next().value as string);
  else budget.total++;
  recent.set(value, known ? 0 : t);
  if (!known) c.units += UNIT;
}

/**
 * Keeps the recent values of all counters within `budget.cap`: once over it, the sets of the least
 * recently used counters are dropped first, down to 90 % of the cap (so the sort is rare). A set keeps
 * its values counted in the last `lagMs` (maybe not aggregated yet: a read adds them to the count) unless
 * dropping every older value was not enough. What a dropped value costs: a lookup (one query) when it comes
 * again at the limit, instead of an answer from memory.
 */
export function trimRecent(
  counters: Iterable<Counter>,
  budget: RecentBudget,
  t: number,
  lagMs: number,
): void {
  if (budget.total <= budget.cap) return;
  const target = Math.floor(budget.cap * 0.9);
  const sets = [...counters]
    .filter((c) => c.recent && c.recent.size > 0)
    .sort((a, b) => a.lastUsed - b.lastUsed);
  for (const keepYoung of [true, false]) {
    for (const c of sets) {
      if (budget.total <= target) return;
      const before = c.recent!.size;
      if (!keepYoung) c.recent!.clear();
      else for (const [v, when] of c.recent!) if (when === 0 || t - when > lagMs) c.recent!.delete(v);
      budget.total -= before - c.recent!.size;
    }
  }
}

/** The new values this instance counted in the last few seconds: maybe not stored (committed) yet. */
export function uncommitted(c: Counter, at: number): number {
  let n = 0;
  for (const when of c.recent?.values() ?? []) if (at - when <= COMMIT_MS) n++;
  return n;
}
