import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const base: Options = { allErrors: false, removeAdditional: false, useDefaults: true, strict: false };
/** Bodies are JSON: types are checked as sent, never coerced ("5" is not 5, 5 is not "5"). */
const strict = addFormats(new Ajv({ ...base, coerceTypes: false }));
/** Query strings, params and headers are text: numbers and booleans are coerced from it. */
const coercing = addFormats(new Ajv({ ...base, coerceTypes: 'array' }));

/** NUL, or a UTF-16 surrogate without its pair: text PostgreSQL refuses (and JSON cannot carry faithfully). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `value` holds a value PostgreSQL would refuse: such text, or a non-finite number (`1e400`). */
function unstorable(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (typeof value === 'number') return !Number.isFinite(value);
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (unstorable(value[i], depth + 1)) return true;
    return false;
  }
  const obj = value as Record<string, unknown>;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) continue;
    if (UNSTORABLE.test(k) || unstorable(obj[k], depth + 1)) return true;
  }
  return false;
}

/** The path of the first value PostgreSQL would refuse (see {@link unstorable}); built only for a body
 *  that has one (a path string per member cost every valid request an allocation per member). */
function unstorablePath(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path;
  if (depth > 32 || value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (UNSTORABLE.test(k)) return path;
    const found = unstorablePath(v, `${path}/${k}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Validator compiler: strict for bodies, coercing for the text parts of a request. Every part is also
 * refused (400) when it holds a NUL character, an unpaired surrogate or a non-finite number (`1e400`
 * parses to Infinity): no route has a use for one, and PostgreSQL would refuse it later with an error
 * that is not the client's to read (a 500).
 */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? strict : coercing;
  const validate = ajv.compile(schema as object);
  const checked = (data: unknown): boolean => {
    if (!validate(data)) {
      checked.errors = validate.errors;
      return false;
    }
    const at = unstorable(data, 0) ? unstorablePath(data, '') : undefined;
    if (at !== undefined) {
      checked.errors = [
        {
          instancePath: at,
          schemaPath: '#/nul',
          keyword: 'nul',
          params: {},
          message: 'must not hold NUL characters, unpaired surrogates or non-finite numbers',
        },
      ];
      return false;
    }
    checked.errors = null;
    return true;
  };
  checked.errors = null as typeof validate.errors;
  return checked as ReturnType<FastifySchemaCompiler<unknown>>;
};
