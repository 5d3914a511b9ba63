import sjson from 'secure-json-parse';
import type { App } from './app-type.js';
import { HttpError } from './http-errors.js';

/** Deepest nesting of objects and arrays a JSON body may have (no route needs more than a handful). */
export const MAX_JSON_DEPTH = 64;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when the JSON text nests objects/arrays deeper than `max`. One pass over the characters, before
 * `JSON.parse`: brackets inside strings (escapes included) do not count. A string is skipped with
 * `indexOf` to its closing quote (one not escaped: preceded by an even run of backslashes) instead of a
 * step per character: most of a body's characters are inside strings. Malformed text is left to the
 * parser, which reports it.
 */
export function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end === -1) return false;
        let b = end - 1;
        while (text.charCodeAt(b) === BACKSLASH) b--;
        i = end;
        if ((end - 1 - b) % 2 === 0) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * Replaces Fastify's `application/json` parser with one that refuses nesting deeper than
 * {@link MAX_JSON_DEPTH} before parsing (a deep body would otherwise overflow the stack of whatever walks
 * it next: validation, serialization, the driver) and keeps the prototype-poisoning protection of the
 * default parser (`secure-json-parse`: `__proto__` and `constructor.prototype` keys are refused).
 */
export function installJsonBodyParser(app: App): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.length === 0) {
      done(
        new HttpError('BAD_REQUEST', 'body must not be empty when content-type is application/json', 400),
        undefined,
      );
      return;
    }
    if (exceedsDepth(text, MAX_JSON_DEPTH)) {
      done(
        new HttpError('BODY_TOO_DEEP', `JSON nesting is deeper than ${MAX_JSON_DEPTH} levels`, 400),
        undefined,
      );
      return;
    }
    let parsed: unknown;
    try {
      parsed = sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
    } catch (err) {
      const poisoned = err instanceof SyntaxError && /forbidden prototype property/.test(err.message);
      done(
        new HttpError(
          'BAD_REQUEST',
          poisoned ? 'body must not hold __proto__ or constructor.prototype keys' : 'body is not valid JSON',
          400,
        ),
        undefined,
      );
      return;
    }
    done(null, parsed);
  });
}
