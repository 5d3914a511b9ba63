import type { Logger } from 'pino';
import { tenantCacheKey, tenantOfCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import {
  exceeded,
  periodBounds,
  UNIT,
  type QuotaAggregation,
  type QuotaDef,
  type QuotaExceeded,
} from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';
import type { QuotaCounters, Refusal } from './quota-counter-types.js';

export type { QuotaCounters, Refusal, UniqueLookups } from './quota-counter-types.js';
import {
  isAdditive,
  MAX_RECENT_TOTAL,
  recordUnique,
  reread,
  trimRecent,
  uncommitted,
  type Counter,
  type RecentBudget,
} from './quota-counter-kinds.js';

const quotaDef = (q: Quota) => ({
  meter: q.meter,
  period: q.period,
  limit: q.limit,
  enforcement: q.enforcement,
  aggregation: q.aggregation,
});

interface Quota extends QuotaDef {
  readonly aggregation: QuotaAggregation;
  readonly start: number;
  readonly end: number;
  readonly limitUnits: bigint;
  readonly key: CacheKey;
}

/** The plan's quotas with the periods holding one UTC day (the day's and its month's). */
interface Slice {
  byMeter: Map<string, Quota[]>;
  loadedAt: number;
  loading: Promise<void> | null;
  lastUsed: number;
}

const IDLE_MS = 10 * 60_000;
const SWEEP_EVERY_MS = 60_000;

export function createQuotaCounters(deps: {
  /** The plan's quotas with their aggregated usage for the periods holding `at` (one query). */
  load: (orgId: string, at: number) => Promise<QuotaUsageRow[]>;
  /** Over a `unique_count` hard quota: which of `values` are among the period's stored values, and how
   *  many distinct values the period holds (one query). Without it, a value over the limit is refused. */
  lookupUnique?: (
    orgId: string,
    meter: string,
    values: readonly string[],
    start: number,
    end: number,
  ) => Promise<{ present: string[]; distinct: number }>;
  /** How long a value this instance accepted may take to reach the aggregated usage (default 30 s: the
   *  aggregator's interval and run, with margin). A `unique_count` counter adds such values to a read. */
  aggregationLagMs?: number;
  /** Recent `unique_count` values all counters remember together (default 200,000; `trimRecent`). */
  maxRecentValues?: number;
  /** How old the aggregated usage may get before a background reload (default 10 s). */
  refreshMs?: number;
  /** The ingestion lateness window: counters of periods ended longer ago are dropped (default 7 days). */
  latenessMs?: number;
  /** A hard quota refused something (once per instance, organization, meter and period). */
  onRefused?: (orgId: string, refusal: Refusal) => void;
  now?: () => number;
  log?: Logger;
}): QuotaCounters {
  const now = deps.now ?? Date.now;
  const refreshMs = deps.refreshMs ?? 10_000;
  const latenessMs = deps.latenessMs ?? 7 * 86_400_000;
  const lagMs = deps.aggregationLagMs ?? 30_000;
  const slices = new Map<CacheKey, Slice>();
  const counters = new Map<CacheKey, Counter>();
  const pending = new Map<CacheKey, Promise<void>>();
  const budget: RecentBudget = { total: 0, cap: deps.maxRecentValues ?? MAX_RECENT_TOTAL };
  const drop = (k: CacheKey, c: Counter) => {
    counters.delete(k);
    budget.total -= c.recent?.size ?? 0;
  };
  let lastSweep = now();

  // Every request asks for the current day's slice of its organization, twice (`ready`, `tryConsume`):
  // the day's bounds and each organization's key for it are remembered until the day ends (the same key,
  // built by the factory once per organization and day). Another day's key is built on each call.
  let today = { start: 0, end: 0 };
  let todayKeys = new Map<string, CacheKey>();
  const sliceKey = (orgId: string, at: number): CacheKey => {
    if (at >= today.end) {
      today = periodBounds('day', at);
      todayKeys = new Map();
    }
    if (at < today.start) return tenantCacheKey(orgId, 'quota.plan', periodBounds('day', at).start);
    let k = todayKeys.get(orgId);
    if (k === undefined) {
      k = tenantCacheKey(orgId, 'quota.plan', today.start);
      if (todayKeys.size >= 10_000) todayKeys.clear();
      todayKeys.set(orgId, k);
    }
    return k;
  };
  const counterKey = (orgId: string, meter: string, period: string, start: number) =>
    tenantCacheKey(orgId, 'quota.usage', meter, period, start);

  function sweep(t: number): void {
    if (t - lastSweep < SWEEP_EVERY_MS) return;
    lastSweep = t;
    const idleOrgs = new Set<string>();
    for (const [k, c] of counters) {
      if (c.end + latenessMs < t) drop(k, c);
      else if (t - c.lastUsed > IDLE_MS) {
        drop(k, c);
        const org = tenantOfCacheKey(k);
        if (org !== null) idleOrgs.add(org);
      }
    }
    // An organization whose counter went idle loads again (with its aggregated usage) before a check.
    for (const [k, s] of slices) {
      if (s.loading) continue;
      const org = tenantOfCacheKey(k);
      if (t - s.lastUsed > IDLE_MS || (org !== null && idleOrgs.has(org))) slices.delete(k);
    }
  }

  function load(orgId: string, at: number, k: CacheKey): Promise<void> {
    const started = now();
    const existing = slices.get(k);
    const p = deps.load(orgId, at).then(
      (rows) => {
        const byMeter = new Map<string, Quota[]>();
        for (const r of rows) {
          const key = counterKey(orgId, r.meter, r.period, r.periodStart);
          const c = counters.get(key);
          if (c) reread(c, r, started, lagMs, budget);
          else counters.set(key, { units: r.usage, end: r.periodEnd, lastUsed: started, refused: false });
          const q: Quota = {
            aggregation: r.aggregation,
            meter: r.meter,
            period: r.period,
            limit: r.limit,
            enforcement: r.enforcement,
            start: r.periodStart,
            end: r.periodEnd,
            limitUnits: BigInt(r.limit) * UNIT,
            key,
          };
          const list = byMeter.get(r.meter);
          if (list) list.push(q);
          else byMeter.set(r.meter, [q]);
        }
        const s = slices.get(k);
        if (s) {
          s.byMeter = byMeter;
          s.loadedAt = started;
          s.loading = null;
        } else slices.set(k, { byMeter, loadedAt: started, loading: null, lastUsed: started });
      },
      (err: unknown) => {
        const s = slices.get(k);
        if (s) s.loading = null;
        throw err;
      },
    );
    if (existing) existing.loading = p;
    return p;
  }

  function counterOf(q: Quota, t: number): Counter {
    let c = counters.get(q.key);
    if (!c) counters.set(q.key, (c = { units: 0n, end: q.end, lastUsed: t, refused: false }));
    return c;
  }

  function refuse(orgId: string, q: Quota, c: Counter, t: number): QuotaExceeded {
    if (!c.refused && deps.onRefused) {
      c.refused = true;
      deps.onRefused(orgId, { ...quotaDef(q), usage: c.units, periodStart: q.start, periodEnd: q.end });
    }
    return exceeded(q, c.units, q.end, t);
  }

  function quotasOf(orgId: string, meter: string, at: number): Quota[] | undefined {
    return slices.get(sliceKey(orgId, at))?.byMeter.get(meter);
  }

  function count(q: Quota, amount: bigint, t: number): void {
    const c = counters.get(q.key);
    if (c) {
      c.units += amount;
      c.lastUsed = t;
    } else counters.set(q.key, { units: amount, end: q.end, lastUsed: t, refused: false });
  }

  const self: QuotaCounters = {
    ready(orgId, at) {
      const t = now();
      sweep(t);
      const when = at ?? t;
      const k = sliceKey(orgId, when);
      const s = slices.get(k);
      if (!s) {
        let p = pending.get(k);
        if (!p) {
          p = load(orgId, when, k).finally(() => pending.delete(k));
          pending.set(k, p);
        }
        return p;
      }
      s.lastUsed = t;
      if (!s.loading && t - s.loadedAt >= refreshMs) {
        load(orgId, when, k).catch((err: unknown) =>
          deps.log?.warn({ component: 'quotas', org: orgId, err }, 'quota usage reload failed'),
        );
      }
    },
    tryConsume(orgId, meter, amount, at) {
      const t = now();
      const when = at ?? t;
      const list = quotasOf(orgId, meter, when);
      if (!list || list.length === 0) return null;
      const kind = list[0]!.aggregation;
      // `max` and `latest`: exact per event, the period's max (latest) stays within the limit iff no
      // accepted event's value exceeds it; equal is accepted. Additive: the usage plus the amount.
      const perEvent = kind === 'max' || kind === 'latest';
      if (!perEvent && (!isAdditive(kind) || amount <= 0n)) return null;
      let worst: Quota | null = null; // the exceeded quota that resets last
      for (const q of list) {
        if (q.enforcement !== 'hard') continue;
        const over = perEvent
          ? amount > q.limitUnits
          : (counters.get(q.key)?.units ?? 0n) + amount > q.limitUnits;
        if (over && (!worst || q.end > worst.end)) worst = q;
      }
      if (worst) return refuse(orgId, worst, counterOf(worst, t), t);
      for (const q of list) {
        if (!perEvent) {
          count(q, amount, t);
          continue;
        }
        const c = counterOf(q, t);
        c.lastUsed = t;
        if (kind === 'max') c.units = c.units > amount ? c.units : amount;
        else if (c.latestAt === undefined || when >= c.latestAt) {
          c.units = amount;
          c.latestAt = when;
        }
      }
      return null;
    },
    tryUnique(orgId, meter, value, at, looked) {
      const t = now();
      const list = quotasOf(orgId, meter, at);
      if (!list || list[0]?.aggregation !== 'unique_count') return null;
      for (const q of list) {
        if (q.enforcement !== 'hard') continue;
        const c = counters.get(q.key);
        if (c && c.units >= q.limitUnits && !c.recent?.has(value)) {
          if (deps.lookupUnique && !looked?.get(q.key)?.has(value)) return 'lookup';
          return refuse(orgId, q, c, t);
        }
      }
      for (const q of list) recordUnique(counterOf(q, t), value, t, false, budget);
      trimRecent(counters.values(), budget, t, lagMs);
      return null;
    },
    async lookupUnique(orgId, meter, entries) {
      // The quotas reached, each with the values it must look up (not known here).
      const wanted = new Map<CacheKey, { q: Quota; c: Counter; values: Set<string> }>();
      for (const { value, at } of entries) {
        for (const q of quotasOf(orgId, meter, at) ?? []) {
          const c = counters.get(q.key);
          if (q.enforcement !== 'hard' || !c || c.units < q.limitUnits || c.recent?.has(value)) continue;
          let w = wanted.get(q.key);
          if (!w) wanted.set(q.key, (w = { q, c, values: new Set() }));
          w.values.add(value);
        }
      }
      const absent = new Map<CacheKey, Set<string>>();
      if (!deps.lookupUnique) return absent;
      for (const [key, { q, c, values }] of wanted) {
        const started = now();
        const r = await deps.lookupUnique(orgId, meter, [...values], q.start, q.end);
        const t = now();
        // The period holds these already: known (accepted, not counted again).
        for (const v of r.present) if (values.delete(v)) recordUnique(c, v, t, true, budget);
        trimRecent(counters.values(), budget, t, lagMs);
        // Some are new: the exact count of stored values, plus what this instance accepted that may not
        // be stored yet, is what they are decided against (all known: the count is left as it was).
        if (values.size > 0) c.units = BigInt(r.distinct + uncommitted(c, started)) * UNIT;
        absent.set(key, values);
      }
      return absent;
    },
    async checkUnique(orgId, meter, value, at) {
      // Twice at most: a reload during the first lookup may have reached another quota.
      for (let round = 0; ; round++) {
        const looked = await self.lookupUnique(orgId, meter, [{ value, at }]);
        const r = self.tryUnique(orgId, meter, value, at, looked);
        if (r !== 'lookup' || round === 1) return r === 'lookup' ? refuseReached(orgId, meter, at) : r;
      }
    },
    add(orgId, meter, amount, at) {
      const t = now();
      const list = quotasOf(orgId, meter, at ?? t);
      if (list && isAdditive(list[0]!.aggregation)) for (const q of list) count(q, amount, t);
    },
    applies(orgId, meter, at) {
      return quotasOf(orgId, meter, at) !== undefined;
    },
    usage(orgId, meter, period, at) {
      const q = quotasOf(orgId, meter, at ?? now())?.find((x) => x.period === period);
      return q ? (counters.get(q.key)?.units ?? 0n) : undefined;
    },
    forget(orgId) {
      if (orgId === undefined) {
        slices.clear();
        return;
      }
      for (const k of slices.keys()) if (tenantOfCacheKey(k) === orgId) slices.delete(k);
    },
  };
  /** A hard `unique_count` quota reached by a value still not known after two lookups. */
  function refuseReached(orgId: string, meter: string, at: number): QuotaExceeded {
    const t = now();
    const list = (quotasOf(orgId, meter, at) ?? []).filter((q) => q.enforcement === 'hard');
    const q = list.find((x) => (counters.get(x.key)?.units ?? 0n) >= x.limitUnits) ?? list[0]!;
    return refuse(orgId, q, counterOf(q, t), t);
  }
  return self;
}
