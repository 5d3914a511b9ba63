import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const base: Options = { allErrors: false, removeAdditional: false, useDefaults: true, strict: false };
/** Bodies are JSON: types are checked as sent, never coerced ("5" is not 5, 5 is not "5"). */
const strict = addFormats(new Ajv({ ...base, coerceTypes: false }));
/** Query strings, params and headers are text: numbers and booleans are coerced from it. */
const coercing = addFormats(new Ajv({ ...base, coerceTypes: 'array' }));

/** Validator compiler: strict for bodies, coercing for the text parts of a request. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? strict : coercing;
  return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
};
