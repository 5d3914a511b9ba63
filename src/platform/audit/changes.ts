import { canonicalJson } from './canonical-json.js';

/** The `changes` of an audit event: before and after of the changed fields only. */
export interface FieldChanges {
  before: Record<string, unknown>;
  after: Record<string, unknown>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

const same = (a: unknown, b: unknown): boolean => canonicalJson(json(a)) === canonicalJson(json(b));
const json = (v: unknown): unknown => (v === undefined ? null : (JSON.parse(JSON.stringify(v)) as unknown));

/**
 * Before/after of the fields that differ between two versions of a record, compared as JSON: nested plain
 * objects (settings) are diffed key by key, arrays and scalars as a whole; a field missing on one side is
 * `null` there. Only the keys of `fields` are looked at (never pass a secret's column). Empty objects on
 * both sides when nothing changed.
 */
export function fieldChanges(
  before: Record<string, unknown> | null | undefined,
  after: Record<string, unknown> | null | undefined,
  fields: readonly string[] = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])],
): FieldChanges {
  const out: FieldChanges = { before: {}, after: {} };
  for (const k of fields) {
    const b = before?.[k];
    const a = after?.[k];
    if (same(b, a)) continue;
    if (isPlainObject(b) && isPlainObject(a)) {
      const inner = fieldChanges(b, a);
      out.before[k] = inner.before;
      out.after[k] = inner.after;
    } else {
      out.before[k] = json(b);
      out.after[k] = json(a);
    }
  }
  return out;
}

/** True when {@link fieldChanges} found no difference. */
export const unchanged = (c: FieldChanges): boolean => Object.keys(c.after).length === 0;
