import type { CacheKey } from '../../platform/tenancy/cache-keys.js';
import type { QuotaDef, QuotaExceeded } from './quota-model.js';
import type { QuotaUsageRow } from './quotas.repository.js';

/**
 * Per-instance quota counters, one per (organization, meter, period, period start): the usage this
 * instance believes that period holds = the aggregated usage it last read for it, raised by what this
 * instance counted itself since. A read never lowers a counter below what this instance counted
 * (`max(aggregated, counted)`): the aggregates lag by the recorder's flush and the aggregator's interval,
 * and the instance's own usage is not in them yet. So a counter never counts more than happened (no early
 * refusal) and misses at most the other instances' usage of the last `refreshMs` + flush + aggregation
 * interval (docs/plans.md: the accuracy bound).
 *
 * Every period an event can land in has its own counter: the current ones, an earlier one inside the
 * lateness window (a late event is checked against ITS period) and the next one (an event stamped a few
 * minutes ahead). Each is loaded on demand (`ready(org, at)`: the plan's quotas with the aggregated usage
 * of the periods holding `at`, one query), cached, and re-read in the background at most every
 * `refreshMs`. Nothing moves a counter from one period to another, so no event can reset or hide the
 * current period's count. A counter is dropped only once its period is past the lateness window, or once
 * it has not been used for 10 minutes (its counts have long been aggregated and come back with a read).
 *
 * Amounts are exact (bigint units of 10^-12). Only a positive amount is checked and counted: a negative
 * `sum` value never makes room for more. Keys come from the tenant key factory (`tenantCacheKey`).
 */
export interface QuotaCounters {
  /** Nothing (synchronous) when the quotas of the periods holding `at` (default now) are loaded; a
   *  promise only the first time (or after `forget`). A stale entry is reloaded in the background. */
  ready(orgId: string, at?: number): void | Promise<void>;
  /**
   * Checks `amount` (units of 10^-12) of `meter` at `at` against the organization's HARD quotas of the
   * periods holding `at`: refused (the exceeded quota that resets last) when the usage plus `amount`
   * would go over a limit; otherwise counted and null returned. Not loaded (call `ready(org, at)` first)
   * or not positive: not checked, not counted.
   */
  tryConsume(orgId: string, meter: string, amount: bigint, at?: number): QuotaExceeded | null;
  /**
   * A `unique_count` meter's `value` at `at` against the HARD quotas of the periods holding `at`: null
   * (accepted and recorded) while the known distinct count is below every limit or the value is one this
   * instance accepted recently or a lookup found stored; 'lookup' when a limit is reached and the value
   * is not known here (call `lookupUnique` with the batch's values, then ask again with its answer); the
   * exceeded quota when refused without a query (or when `looked` found the value absent and no room).
   */
  tryUnique(
    orgId: string,
    meter: string,
    value: string,
    at: number,
    looked?: UniqueLookups,
  ): QuotaExceeded | null | 'lookup';
  /**
   * After 'lookup': ONE query per quota reached (organization, meter and period) for all `entries` (a
   * batch's values from the one that needed it on): which of them the period already holds (recorded as
   * known: accepted, not counted) and the exact stored count (plus what this instance accepted that may
   * not be stored yet). Ask `tryUnique` again with the answer, event by event in order: a new value is
   * accepted while room remains (counted as accepted), refused otherwise, without another query.
   */
  lookupUnique(
    orgId: string,
    meter: string,
    entries: readonly { value: string; at: number }[],
  ): Promise<UniqueLookups>;
  /** The single-value rule (`lookupUnique` of one value, then `tryUnique`). */
  checkUnique(orgId: string, meter: string, value: string, at: number): Promise<QuotaExceeded | null>;
  /** Counts `amount` (negative: gives back a reservation) into the additive counters holding `at`. */
  add(orgId: string, meter: string, amount: bigint, at?: number): void;
  /**
   * True when a loaded quota (hard or soft) of the organization applies to `meter` at `at`: only then do
   * `tryConsume` and `add` do anything. Ingestion asks once per meter and day of a batch instead of
   * converting and offering every event's amount (most organizations have no quota on most meters).
   */
  applies(orgId: string, meter: string, at: number): boolean;
  /** The counted usage (in units) of the quota's period holding `at` (default now), if loaded. */
  usage(orgId: string, meter: string, period: QuotaDef['period'], at?: number): bigint | undefined;
  /** Drops an organization's quota definitions (its plan changed), or every organization's (the catalog
   *  changed). Counted usage is kept. */
  forget(orgId?: string): void;
}

/** What a `lookupUnique` found absent from each quota period it looked up (valid for one batch). */
export type UniqueLookups = ReadonlyMap<CacheKey, ReadonlySet<string>>;

/** A refusal, for the limit-reached notice (`QuotaNotices.refused`). */
export type Refusal = QuotaUsageRow;
