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
/** How long an accepted value may take to be stored (a batch's insert and commit). */
const COMMIT_MS = 5_000;

export const isAdditive = (a: QuotaAggregation) => a === 'count' || a === 'sum';

/** A counter read again (`r`: the usage read, `started`: when the read began), by its meter's kind. */
export function reread(c: Counter, r: QuotaUsageRow, started: number, lagMs: number): void {
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
      for (const [v, when] of c.recent) if (started - when > lagMs) c.recent.delete(v);
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
export function recordUnique(c: Counter, value: string, t: number, known: boolean): void {
  c.lastUsed = t;
  const recent = (c.recent ??= new Map());
  if (recent.has(value)) return;
  if (recent.size >= MAX_RECENT) recent.delete(recent.keys().next().value as string);
  recent.set(value, known ? 0 : t);
  if (!known) c.units += UNIT;
}

/** The new values this instance counted in the last few seconds: maybe not stored (committed) yet. */
export function uncommitted(c: Counter, at: number): number {
  let n = 0;
  for (const when of c.recent?.values() ?? []) if (at - when <= COMMIT_MS) n++;
  return n;
}
