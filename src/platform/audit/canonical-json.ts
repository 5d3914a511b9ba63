/**
 * Canonical JSON (the JCS rules of RFC 8785 for the values an audit entry holds): object keys sorted by
 * UTF-16 code units, no whitespace, numbers and strings as ECMAScript `JSON.stringify` writes them,
 * `undefined` members left out. The same value always gives the same bytes, in this process, in a
 * verifier written in another language, and after a round trip through PostgreSQL `jsonb`.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value))
        throw new TypeError('canonical JSON has no representation for a non-finite number');
      return JSON.stringify(value);
    case 'object': {
      // Written by concatenation, without the intermediate arrays of map/filter/join (same bytes: a
      // property test compares it with that form).
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          // A hole of a sparse array is written as nothing, as `join` wrote it (entries hold none).
          if (i in value) out += canonicalJson((value[i] as unknown) ?? null);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (out.length > 1) out += ',';
        out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonical JSON has no representation for ${typeof value}`);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** How `JSON.stringify` writes a NUL or a lone surrogate (it escapes both, and no other character of
 *  these ranges); a match may also be an escaped backslash followed by such text, which is harmless:
 *  the value then only takes the slow path. */
const ESCAPED_UNSAFE = /\\u(?:0000|[dD][89abAB])/;

/**
 * Makes an arbitrary value safe to store in `jsonb` and hash: a JSON round trip (dates become strings,
 * functions vanish), lone surrogates replaced, NUL characters (which `jsonb` refuses) removed.
 */
export function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  let text = JSON.stringify(value);
  // Most values hold neither: one plain round trip, no replacer call per member.
  if (text !== undefined && ESCAPED_UNSAFE.test(text)) {
    text = JSON.stringify(value, (_k, v: unknown) =>
      typeof v === 'string' ? v.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '') : v,
    );
  }
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

// eslint-disable-next-line no-control-regex -- NUL is exactly what it looks for
const UNSAFE_CHAR = /[\u0000\uD800-\uDFFF]/;

/** True when `s` holds no NUL and no surrogate: `jsonSafe` leaves it as it is. */
export const isPlainJsonString = (s: string): boolean => !UNSAFE_CHAR.test(s);

/** `jsonSafe` of a string, without the JSON round trip when it holds no NUL and no surrogate. */
export function jsonSafeString(s: string): string {
  return UNSAFE_CHAR.test(s) ? (jsonSafe(s) as string) : s;
}
