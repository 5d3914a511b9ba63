import type { Logger } from 'pino';
import { tenantCacheKey, tenantOfCacheKey, type CacheKey } from '../../platform/tenancy/cache-keys.js';
import { exceeded, periodBounds, type QuotaDef, type QuotaExceeded } from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';

/**
 * Per-instance quota counters: for each (organization, meter, period) of the organization's plan, the
 * usage this instance believes the period holds = the aggregated usage it last read (at most every
 * `refreshMs`, in the background: a request never waits for it once the organization is loaded) raised by
 * what this instance counted itself since. A read never lowers a counter below what this instance counted
 * (`max(aggregated, counted)`): the aggregates lag by the recorder's flush and the aggregator's interval,
 * and the instance's own usage is not in them yet. So a counter never counts more than happened (no early
 * refusal) and misses at most the other instances' usage of the last `refreshMs` + flush + aggregation
 * interval (docs/plans.md: the accuracy bound).
 *
 * Every counter and organization entry is keyed by the tenant key factory (`tenantCacheKey`), like every
 * cache of the platform; nothing here is shared across processes.
 */
export interface QuotaCounters {
  /** Nothing (synchronous) when the organization's quotas are loaded; a promise only the first time (or
   *  after `forget`). A loaded entry older than `refreshMs` is reloaded in the background. */
  ready(orgId: string): void | Promise<void>;
  /**
   * Checks `amount` of `meter` at `at` against the organization's HARD quotas of the current periods:
   * refused (the quota that is exceeded, the one that resets last) when the usage plus `amount` would go
   * over a limit; otherwise the amount is counted and null returned. Not loaded, or `at` outside the
   * current period: not checked, not counted. Call `ready` first.
   */
  tryConsume(orgId: string, meter: string, amount: number, at?: number): QuotaExceeded | null;
  /** Counts `amount` (negative: gives back a reservation) into the current periods' counters. */
  add(orgId: string, meter: string, amount: number, at?: number): void;
  /** The counted usage of a quota's current period, if loaded (tests, diagnostics). */
  usage(orgId: string, meter: string, period: QuotaDef['period']): number | undefined;
  /** Drops an organization's entry (its plan changed), or every entry (the catalog changed). */
  forget(orgId?: string): void;
}

interface Counted extends QuotaDef {
  start: number;
  end: number;
  key: CacheKey;
}

interface OrgEntry {
  byMeter: Map<string, Counted[]>;
  loadedAt: number;
  loading: Promise<void> | null;
  lastUsed: number;
}

/** Entries not used for this long are dropped when the map grows past MAX_ENTRIES. */
const IDLE_MS = 10 * 60_000;
const MAX_ENTRIES = 50_000;

export function createQuotaCounters(deps: {
  /** The plan's additive quotas with their aggregated usage for the periods holding `at` (one query). */
  load: (orgId: string, at: number) => Promise<QuotaUsageRow[]>;
  /** How old the aggregated usage may get before a background reload (default 10 s). */
  refreshMs?: number;
  now?: () => number;
  log?: Logger;
}): QuotaCounters {
  const now = deps.now ?? Date.now;
  const refreshMs = deps.refreshMs ?? 10_000;
  const entries = new Map<CacheKey, OrgEntry>();
  /** Counted usage per (organization, meter, period, period start). */
  const counters = new Map<CacheKey, number>();
  const entryKey = (orgId: string) => tenantCacheKey(orgId, 'quota.plan');
  const counterKey = (orgId: string, meter: string, period: string, start: number) =>
    tenantCacheKey(orgId, 'quota.usage', meter, period, start);

  function sweep(t: number): void {
    if (entries.size < MAX_ENTRIES) return;
    for (const [k, e] of entries) if (t - e.lastUsed > IDLE_MS && !e.loading) entries.delete(k);
    for (const [k] of counters) {
      const org = tenantOfCacheKey(k);
      if (org === null || !entries.has(entryKey(org))) counters.delete(k);
    }
  }

  function load(orgId: string, entry: OrgEntry | undefined): Promise<void> {
    const started = now();
    const p = deps.load(orgId, started).then(
      (rows) => {
        const byMeter = new Map<string, Counted[]>();
        for (const r of rows) {
          const key = counterKey(orgId, r.meter, r.period, r.periodStart);
          // Never below what this instance counted: its own recent usage is not aggregated yet.
          counters.set(key, Math.max(r.usage, counters.get(key) ?? 0));
          const c: Counted = { ...r, start: r.periodStart, end: r.periodEnd, key };
          const list = byMeter.get(r.meter);
          if (list) list.push(c);
          else byMeter.set(r.meter, [c]);
        }
        const e = entries.get(entryKey(orgId));
        if (e) {
          e.byMeter = byMeter;
          e.loadedAt = started;
          e.loading = null;
        } else {
          sweep(started);
          entries.set(entryKey(orgId), { byMeter, loadedAt: started, loading: null, lastUsed: started });
        }
      },
      (err: unknown) => {
        if (entry) entry.loading = null;
        throw err;
      },
    );
    if (entry) entry.loading = p;
    return p;
  }

  /** The quota's counter for the period holding `at`, moving it to a new period when one began. */
  function current(orgId: string, c: Counted, at: number): Counted | null {
    if (at >= c.start && at < c.end) return c;
    // An earlier period (a late event): neither checked nor counted here.
    if (at < c.start) return null;
    const b = periodBounds(c.period, at);
    counters.delete(c.key);
    c.start = b.start;
    c.end = b.end;
    c.key = counterKey(orgId, c.meter, c.period, b.start);
    return c;
  }

  const pending = new Map<CacheKey, Promise<void>>();

  return {
    ready(orgId) {
      const k = entryKey(orgId);
      const e = entries.get(k);
      const t = now();
      if (!e) {
        let p = pending.get(k);
        if (!p) {
          p = load(orgId, undefined).finally(() => pending.delete(k));
          pending.set(k, p);
        }
        return p;
      }
      e.lastUsed = t;
      if (!e.loading && t - e.loadedAt >= refreshMs) {
        load(orgId, e).catch((err: unknown) =>
          deps.log?.warn({ component: 'quotas', org: orgId, err }, 'quota usage reload failed'),
        );
      }
    },
    tryConsume(orgId, meter, amount, at = now()) {
      const e = entries.get(entryKey(orgId));
      const list = e?.byMeter.get(meter);
      if (!list) return null;
      let worst: QuotaExceeded | null = null;
      for (const q of list) {
        if (q.enforcement !== 'hard') continue;
        const c = current(orgId, q, at);
        if (!c) continue;
        const used = counters.get(c.key) ?? 0;
        if (used + amount > c.limit) {
          const x = exceeded(c, used, c.end, now());
          if (!worst || x.resetAt > worst.resetAt) worst = x;
        }
      }
      if (worst) return worst;
      for (const q of list) {
        const c = current(orgId, q, at);
        if (c) counters.set(c.key, (counters.get(c.key) ?? 0) + amount);
      }
      return null;
    },
    add(orgId, meter, amount, at = now()) {
      const list = entries.get(entryKey(orgId))?.byMeter.get(meter);
      if (!list) return;
      for (const q of list) {
        const c = current(orgId, q, at);
        if (c) counters.set(c.key, (counters.get(c.key) ?? 0) + amount);
      }
    },
    usage(orgId, meter, period) {
      const list = entries.get(entryKey(orgId))?.byMeter.get(meter);
      const q = list?.find((x) => x.period === period);
      if (!q) return undefined;
      const c = current(orgId, q, now());
      return c ? (counters.get(c.key) ?? 0) : undefined;
    },
    forget(orgId) {
      if (orgId === undefined) {
        entries.clear();
        return;
      }
      entries.delete(entryKey(orgId));
    },
  };
}
