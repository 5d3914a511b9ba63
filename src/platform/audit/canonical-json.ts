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
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON has no representation for ${typeof value}`);
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Makes an arbitrary value safe to store in `jsonb` and hash: a JSON round trip (dates become strings,
 * functions vanish), lone surrogates replaced, NUL characters (which `jsonb` refuses) removed.
 */
export function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null;
  const text = JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'string' ? v.replace(LONE_SURROGATE, '\uFFFD').replaceAll('\u0000', '') : v,
  );
  return text === undefined ? null : (JSON.parse(text) as unknown);
}
