import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { MeterCatalog } from './meter-catalog.js';
import * as repo from './usage-events.repository.js';
import type { QuotaExceeded } from '../quotas/quota-model.js';
import type { UniqueLookups } from '../quotas/quota-counters.js';
import { laterValues, quotaMessage, valueOverMessage, type IngestQuotaGate } from './ingest-quota.js';

export type { IngestQuotaGate } from './ingest-quota.js';
import { quotaExceededError } from '../quotas/quotas.errors.js';
import { toUnits } from '../quotas/quota-model.js';
import {
  canonicalProperties,
  eventDigest,
  parseDecimal,
  resolveValue,
  type MeterDef,
  type PropertyValue,
} from './usage-model.js';

/** One event of a batch, as the route validated its shape. */
export interface UsageEventInput {
  id: string;
  meter: string;
  value?: number | string;
  /** ISO 8601 date-time. */
  timestamp: string;
  properties?: Record<string, PropertyValue>;
}

export type EventErrorCode =
  | 'UNKNOWN_METER'
  | 'METER_ARCHIVED'
  | 'METER_RESERVED'
  | 'INVALID_ID'
  | 'TOO_LATE'
  | 'IN_FUTURE'
  | 'INVALID_TIMESTAMP'
  | 'INVALID_VALUE'
  | 'QUOTA_EXCEEDED';

/** Meters only the product itself records (through `recordUsage`): a client cannot post to them. */
export const BUILT_IN_METERS: ReadonlySet<string> = new Set(['api_requests']);
/** The id prefix of the events `recordUsage` flushes: reserved, a client cannot use it. */
export const INTERNAL_ID_PREFIX = 'internal:';
/** Most bytes of an event id in UTF-8 (the table's rule: 128 characters of the schema may be more bytes). */
export const MAX_ID_BYTES = 128;

export interface IngestOptions {
  /** `internal`: the product's own recorder, which may write built-in meters and `internal:` ids.
   *  Anything else (the default) is a client. */
  source?: 'client' | 'internal';
}

/** The outcome of one event, by its index in the batch. */
export type EventOutcome =
  | { index: number; id: string; status: 'accepted' | 'duplicate' | 'conflict' }
  | { index: number; id: string; status: 'error'; error: { code: EventErrorCode; message: string } };

export interface IngestResult {
  accepted: number;
  duplicates: number;
  conflicts: number;
  errors: number;
  results: EventOutcome[];
}

export interface UsageEventsService {
  /**
   * Stores a batch for the ctx's organization in one statement. Per event: `accepted` (stored now),
   * `duplicate` (this id was stored before with the same payload: not counted again), `conflict` (this id
   * was stored with another payload: the first one stands), or an error (never stored). An id repeated
   * inside the batch is judged against its first occurrence.
   */
  ingest(ctx: TenantCtx, events: readonly UsageEventInput[], opts?: IngestOptions): Promise<IngestResult>;
}

export interface IngestionSettings {
  /** Events older than this are refused (TOO_LATE). */
  latenessMs: number;
  /** Events further in the future than this are refused (IN_FUTURE). */
  futureMs: number;
}

const DAY_MS = 86_400_000;
const instant = (ts: string) => (ISO.test(ts) ? Date.parse(ts) : NaN);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

const fail = (index: number, id: string, code: EventErrorCode, message: string): EventOutcome => ({
  index,
  id,
  status: 'error',
  error: { code, message },
});

export function createUsageEventsService(deps: {
  withTenant: WithTenant;
  meters: MeterCatalog;
  settings: IngestionSettings;
  quotas?: IngestQuotaGate;
  now?: () => number;
}): UsageEventsService {
  const { withTenant, meters, settings } = deps;
  const now = deps.now ?? Date.now;

  async function meterOf(key: string, cache: Map<string, MeterDef | null>): Promise<MeterDef | null> {
    let m = cache.get(key);
    if (m === undefined) {
      const got = meters.get(key);
      m = got instanceof Promise ? await got : got;
      cache.set(key, m);
    }
    return m;
  }

  return {
    async ingest(ctx, events, opts) {
      const internal = opts?.source === 'internal';
      const t = now();
      const earliest = t - settings.latenessMs;
      const latest = t + settings.futureMs;
      const n = events.length;
      const results: EventOutcome[] = new Array<EventOutcome>(n);
      /** The digest of each id's first valid occurrence in the batch. */
      const seen = new Map<string, string>();
      // What each valid event stores, by its index (arrays, not an object per event: ingestion's garbage
      // collection showed in its profile); `order` lists the indexes to store.
      const digests = new Array<string>(n);
      const values = new Array<string | null>(n);
      const dimensions = new Array<string | null>(n);
      const instants = new Array<number>(n);
      const props = new Array<string | null>(n);
      const order: number[] = [];
      const meterCache = new Map<string, MeterDef | null>();
      const gate = internal ? undefined : deps.quotas;
      /** Per UTC day of the batch whose quotas `gate.ready` loaded: whether a quota applies, per meter.
       *  Cleared after every await, during which a reload may change the organization's quotas. */
      const quotaDays = new Map<number, Map<string, boolean>>();
      /** Counted toward a quota before the insert: [index, amount], given back if not stored. */
      const counted: [number, bigint][] = [];
      let refused: { over: QuotaExceeded; message: string } | null = null;
      /** Refused for a quota: answered `duplicate` or `conflict` instead if the id was stored before (a
       *  retry of an event stored and counted before the quota was reached). */
      const overQuota: number[] = [];
      /** Per `unique_count` meter: what the batch's lookups found absent (one lookup per quota reached). */
      const looked = new Map<string, UniqueLookups>();
      const refusedIds = () => [...new Set(overQuota.map((i) => events[i]!.id))];
      const answerRetries = (stored: { id: string; digest: string }[]) => {
        const byId = new Map(stored.map((r) => [r.id, r.digest]));
        for (const i of overQuota) {
          const d = byId.get(events[i]!.id);
          if (d !== undefined)
            results[i] = { index: i, id: events[i]!.id, status: d === digests[i] ? 'duplicate' : 'conflict' };
        }
      };
      for (let i = 0; i < n; i++) {
        const e = events[i]!;
        // At most 3 UTF-8 bytes per UTF-16 unit: only a long id needs its bytes counted.
        if (e.id.length * 3 > MAX_ID_BYTES && Buffer.byteLength(e.id, 'utf8') > MAX_ID_BYTES) {
          results[i] = fail(i, e.id, 'INVALID_ID', `id is longer than ${MAX_ID_BYTES} bytes in UTF-8`);
          continue;
        }
        if (!internal && e.id.startsWith(INTERNAL_ID_PREFIX)) {
          results[i] = fail(i, e.id, 'INVALID_ID', `ids starting with "${INTERNAL_ID_PREFIX}" are reserved`);
          continue;
        }
        if (!internal && BUILT_IN_METERS.has(e.meter)) {
          results[i] = fail(i, e.id, 'METER_RESERVED', `meter "${e.meter}" is recorded by the platform only`);
          continue;
        }
        // The batch's meters are few: an await (a promise and a microtask turn) only on a batch's first
        // sight of a meter, not once per event (it showed in the ingestion profile).
        let meter = meterCache.get(e.meter);
        if (meter === undefined) {
          meter = await meterOf(e.meter, meterCache);
          quotaDays.clear();
        }
        if (!meter) {
          results[i] = fail(i, e.id, 'UNKNOWN_METER', `no meter "${e.meter}"`);
          continue;
        }
        if (meter.archivedAt) {
          results[i] = fail(i, e.id, 'METER_ARCHIVED', `meter "${e.meter}" is archived`);
          continue;
        }
        const ms = ISO.test(e.timestamp) ? Date.parse(e.timestamp) : NaN;
        if (Number.isNaN(ms)) {
          results[i] = fail(i, e.id, 'INVALID_TIMESTAMP', 'timestamp must be an ISO 8601 date-time');
          continue;
        }
        if (ms < earliest) {
          results[i] = fail(i, e.id, 'TOO_LATE', 'timestamp is older than the lateness window');
          continue;
        }
        if (ms > latest) {
          results[i] = fail(i, e.id, 'IN_FUTURE', 'timestamp is too far in the future');
          continue;
        }
        const resolved = resolveValue(meter, e.value, e.properties);
        // The value as sent, canonical: what `resolved` holds already when the meter reads `value` itself.
        const sentValue =
          e.value === undefined
            ? null
            : resolved !== null && resolved.value !== null && meter.property === null
              ? resolved.value
              : parseDecimal(e.value);
        if (!resolved || (e.value !== undefined && sentValue === null)) {
          results[i] = fail(i, e.id, 'INVALID_VALUE', invalidValueMessage(meter));
          continue;
        }
        const canonical = canonicalProperties(e.properties);
        const digest = eventDigest(e.meter, sentValue, ms, canonical);
        const first = seen.get(e.id);
        if (first !== undefined) {
          results[i] = { index: i, id: e.id, status: first === digest ? 'duplicate' : 'conflict' };
          continue;
        }
        if (gate) {
          // An event is accepted while the usage plus its amount stays within every hard quota of ITS
          // periods (a late event's or an early one's, each with its own counter). The quotas of a day
          // are loaded once per batch, and an event is offered only when a quota applies to its meter.
          const day = Math.floor(ms / DAY_MS);
          let byMeter = quotaDays.get(day);
          if (byMeter === undefined) {
            const ready = gate.ready(ctx.tenantId, ms);
            if (ready instanceof Promise) {
              await ready;
              quotaDays.clear();
            }
            quotaDays.set(day, (byMeter = new Map<string, boolean>()));
          }
          let applies = byMeter.get(e.meter);
          if (applies === undefined)
            byMeter.set(e.meter, (applies = gate.applies(ctx.tenantId, e.meter, ms)));
          if (applies && meter.aggregation === 'unique_count') {
            // The period's distinct values: a value already counted always fits; a new one only below
            // the limit (a query only when a limit is reached and the value is not known here).
            const value = resolved.dimension!;
            let over = gate.tryUnique(ctx.tenantId, e.meter, value, ms, looked.get(e.meter));
            if (over === 'lookup') {
              // One query for this value and those of the batch's later events of the meter; then each
              // is decided in order without another (accepted while room remains, counted as accepted).
              const found = await gate.lookupUnique(
                ctx.tenantId,
                e.meter,
                laterValues(events, i, meter, instant, earliest, latest),
              );
              looked.set(e.meter, new Map([...(looked.get(e.meter) ?? []), ...found]));
              quotaDays.clear();
              over = gate.tryUnique(ctx.tenantId, e.meter, value, ms, looked.get(e.meter));
              // Still not known: the quotas were reloaded during the query (another one is reached).
              if (over === 'lookup') over = await gate.checkUnique(ctx.tenantId, e.meter, value, ms);
            }
            if (over) {
              const message = quotaMessage(over);
              results[i] = fail(i, e.id, 'QUOTA_EXCEEDED', message);
              refused ??= { over, message };
              digests[i] = digest;
              overQuota.push(i);
              continue;
            }
          } else if (applies) {
            // `max` and `latest`: the event's own value against the limit (exact, nothing to give back).
            const amount = toUnits(resolved.value ?? '1');
            const over = gate.tryConsume(ctx.tenantId, e.meter, amount, ms);
            if (over) {
              const message =
                meter.aggregation === 'max' || meter.aggregation === 'latest'
                  ? valueOverMessage(resolved.value ?? '1', over)
                  : quotaMessage(over);
              results[i] = fail(i, e.id, 'QUOTA_EXCEEDED', message);
              refused ??= { over, message };
              digests[i] = digest;
              overQuota.push(i);
              continue;
            }
            // Only positive amounts of additive meters are counted (and given back if not stored).
            if (amount > 0n && (meter.aggregation === 'count' || meter.aggregation === 'sum'))
              counted.push([i, amount]);
          }
        }
        seen.set(e.id, digest);
        digests[i] = digest;
        values[i] = resolved.value;
        dimensions[i] = resolved.dimension;
        instants[i] = ms;
        props[i] = canonical;
        order.push(i);
      }
      if (order.length > 0) {
        order.sort((a, b) => {
          const x = events[a]!.id;
          const y = events[b]!.id;
          return x < y ? -1 : x > y ? 1 : 0;
        });
        const k = order.length;
        const cols: repo.EventColumns = {
          ids: new Array<string>(k),
          meters: new Array<string>(k),
          values: new Array<string | null>(k),
          dimensions: new Array<string | null>(k),
          occurredAt: new Array<string>(k),
          properties: new Array<string | null>(k),
          digests: new Array<string>(k),
        };
        for (let j = 0; j < k; j++) {
          const i = order[j]!;
          const e = events[i]!;
          cols.ids[j] = e.id;
          cols.meters[j] = e.meter;
          cols.values[j] = values[i] ?? null;
          cols.dimensions[j] = dimensions[i] ?? null;
          cols.occurredAt[j] = new Date(instants[i]!).toISOString();
          cols.properties[j] = props[i] ?? null;
          cols.digests[j] = digests[i]!;
        }
        /** The ids not stored now, with the digest stored before (null: stored now, see below). */
        const previous = await withTenant(ctx.tenantId, async (db) => {
          // In the same transaction, before the insert (not an id this batch stores now): the ids refused
          // for a quota that were stored before.
          if (overQuota.length > 0) answerRetries(await repo.storedDigests(db, ctx.tenantId, refusedIds()));
          const notStored = await repo.insertBatch(db, ctx.tenantId, cols);
          // Null: inserted by a concurrent batch that committed while this one waited on its key.
          const unresolved: string[] = [];
          for (const [id, digest] of notStored) if (digest === null) unresolved.push(id);
          if (unresolved.length > 0) {
            for (const r of await repo.storedDigests(db, ctx.tenantId, unresolved))
              notStored.set(r.id, r.digest);
          }
          return notStored;
        }).catch((err: unknown) => {
          for (const [i, amount] of counted)
            gate!.add(ctx.tenantId, events[i]!.meter, -amount, eventMs(events[i]!));
          throw err;
        });
        for (let j = 0; j < k; j++) {
          const i = order[j]!;
          const id = cols.ids[j]!;
          const digest = previous.get(id);
          if (digest === null) throw new Error(`usage event ${id}: neither stored nor found`);
          results[i] = {
            index: i,
            id,
            status: digest === undefined ? 'accepted' : digest === digests[i] ? 'duplicate' : 'conflict',
          };
        }
      } else if (overQuota.length > 0) {
        const ids = refusedIds();
        answerRetries(
          await withTenant(ctx.tenantId, (db) => repo.storedDigests(db, ctx.tenantId, ids), { mode: 'read' }),
        );
      }
      // What was counted but not stored now (a duplicate or conflict) is given back.
      for (const [i, amount] of counted) {
        if (results[i]?.status !== 'accepted')
          gate!.add(ctx.tenantId, events[i]!.meter, -amount, eventMs(events[i]!));
      }
      if (
        refused &&
        order.length === 0 &&
        results.every((r) => r.status === 'error' && r.error.code === 'QUOTA_EXCEEDED')
      ) {
        throw quotaExceededError(refused.over, refused.message);
      }
      let accepted = 0;
      let duplicates = 0;
      let conflicts = 0;
      let errors = 0;
      for (const r of results) {
        if (r.status === 'accepted') accepted++;
        else if (r.status === 'duplicate') duplicates++;
        else if (r.status === 'conflict') conflicts++;
        else errors++;
      }
      return { accepted, duplicates, conflicts, errors, results };
    },
  };
}

const eventMs = (e: UsageEventInput) => Date.parse(e.timestamp);

function invalidValueMessage(meter: MeterDef): string {
  switch (meter.aggregation) {
    case 'count':
      return 'value of a count meter: a positive integer (the number of occurrences), or absent';
    case 'unique_count':
      return `property "${meter.property}" must be a non-empty string or a number`;
    default:
      return meter.property === null
        ? 'value must be a decimal (a number of up to 15 significant digits, or a string of up to 20 + 12 digits)'
        : `property "${meter.property}" must be a decimal number or string`;
  }
}
