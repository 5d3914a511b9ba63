import { hash } from 'node:crypto';
import { canonicalJson } from '../../platform/audit/canonical-json.js';

/** How a meter turns events into a number per bucket. */
export type Aggregation = 'count' | 'sum' | 'max' | 'unique_count' | 'latest';
export const AGGREGATIONS: readonly Aggregation[] = ['count', 'sum', 'max', 'unique_count', 'latest'];

export const METER_KEY_RE = /^[a-z][a-z0-9_.-]{0,63}$/;
export const PROPERTY_RE = /^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/;

/** A meter as ingestion and summaries use it. */
export interface MeterDef {
  key: string;
  aggregation: Aggregation;
  /** sum/max/latest: the property holding the quantity (the event's `value` when null); unique_count: the
   *  property whose distinct values are counted. */
  property: string | null;
  unit: string;
  description: string;
  archivedAt: Date | null;
}

/**
 * Exact decimals: at most 20 digits before the point and 12 after, optional sign. JSON numbers are
 * accepted when their shortest text form (what `String(n)` writes, i.e. what the client sent for any
 * number of up to 15 significant digits) is such a decimal; anything longer must be sent as a string.
 */
const DECIMAL_RE = /^-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,12})?$/;
const INTEGER_RE = /^[1-9][0-9]{0,17}$/;

/** The canonical decimal text of a JSON number or string, or null when it is not an exact decimal. */
export function parseDecimal(v: unknown): string | null {
  let text: string;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return null;
    text = String(v);
    // More than 15 significant digits may not be what the client wrote: ask for a string.
    if (text.replace(/^-|\./g, '').replace(/^0+/, '').length > 15) return null;
  } else if (typeof v === 'string') text = v;
  else return null;
  if (!DECIMAL_RE.test(text)) return null;
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return text === '-0' ? '0' : text;
}

/** A count meter's weight: a positive integer (an event stands for that many), 1 when absent. */
export function parseWeight(v: unknown): string | null {
  const text = parseDecimal(v);
  return text !== null && INTEGER_RE.test(text) ? text : null;
}

/** What an accepted event stores besides its payload: the meter's quantity and the unique_count key. */
export interface Resolved {
  value: string | null;
  dimension: string | null;
}

export type PropertyValue = string | number | boolean | null;

/**
 * Resolves an event's quantity for its meter, or null when the event has none it can use (INVALID_VALUE).
 * - count: `value` is a weight (positive integer, default 1).
 * - sum, max, latest: `value`, or the named property, an exact decimal (number or string).
 * - unique_count: the named property, a string or a number (its text is the distinct key).
 */
export function resolveValue(
  meter: MeterDef,
  value: unknown,
  properties: Record<string, PropertyValue> | undefined,
): Resolved | null {
  switch (meter.aggregation) {
    case 'count': {
      if (value === undefined || value === null) return { value: null, dimension: null };
      const w = parseWeight(value);
      return w === null ? null : { value: w, dimension: null };
    }
    case 'unique_count': {
      const p = properties?.[meter.property!];
      if (typeof p === 'string' && p.length > 0) return { value: null, dimension: p };
      if (typeof p === 'number' && Number.isFinite(p)) return { value: null, dimension: String(p) };
      return null;
    }
    default: {
      const raw = meter.property === null ? value : properties?.[meter.property];
      const d = parseDecimal(raw);
      return d === null ? null : { value: d, dimension: null };
    }
  }
}

/**
 * The canonical JSON of an event's properties (what is digested, and stored), null when absent: exactly
 * `canonicalJson(properties)`, written for the flat object an event has (one string, no intermediate
 * arrays of keys and members; a nested value, which only an internal caller could pass, goes through
 * `canonicalJson`).
 */
export function canonicalProperties(properties: Record<string, PropertyValue> | undefined): string | null {
  if (properties === undefined) return null;
  const keys = Object.keys(properties);
  if (keys.length > 1) keys.sort();
  let out = '{';
  for (const k of keys) {
    const v = properties[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(k)}:${typeof v === 'string' ? JSON.stringify(v) : canonicalJson(v)}`;
  }
  return out + '}';
}

/**
 * The digest of an event's payload (what decides `duplicate` against `conflict`): meter, the value as
 * sent (canonical decimal), the instant in milliseconds and the canonical JSON of the properties. 16
 * bytes of SHA-256, hex.
 */
export function eventDigest(
  meter: string,
  value: string | null,
  occurredAtMs: number,
  /** The canonical JSON of the properties ({@link canonicalProperties}), null when there are none. */
  props: string | null,
): string {
  return hash('sha256', `${meter}\n${value ?? ''}\n${occurredAtMs}\n${props ?? ''}`, 'hex').slice(0, 32);
}
