import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { redactSecrets, safeRedacted } from './chain.js';
import { canonicalJson, jsonSafe } from './canonical-json.js';

/** The general path `safeRedacted` stands for: a JSON round trip, then the redaction. */
const general = (v: unknown): unknown => redactSecrets(jsonSafe(v));

/** The outcome of `f(v)`: its value, or the error's type and message. */
function outcome(f: (v: unknown) => unknown, v: unknown): { ok: unknown } | { error: string } {
  try {
    return { ok: f(v) };
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

const key = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.constantFrom('password', 'apiKey', 'token', 'code', 'name', '__proto__', 'toJSON', '0', '10', 'a\u0000'),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
  fc.string({ unit: 'binary', maxLength: 3 }),
);
const leaf = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 4 }),
  fc.constantFrom('\u0000', '\uD800', 'a\uDC00b', '😀', ''),
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, Number.NaN, Infinity, 1e21, 5e-324),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(() => 1),
  fc.constant(Symbol('s')),
  fc.date({ noInvalidDate: false }),
  fc.constant(new Map([[1, 2]])),
  fc.constant({ toJSON: () => ({ secret: 'x', ok: 1 }) }),
  fc.constant(Object.create(null) as object),
  fc.constant(new String('boxed')),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.oneof(fc.array(tie('value'), { maxLength: 4 }), fc.sparseArray(tie('value'), { maxLength: 4 })),
  object: fc.oneof(
    fc.dictionary(key, tie('value'), { maxKeys: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 3, noNullPrototype: false }),
  ),
}));

describe('safeRedacted (the plain-data path of an entry’s changes and metadata)', () => {
  it('gives exactly what the JSON round trip and the redaction give, or fails as they fail', () => {
    fc.assert(
      fc.property(value, (v) => {
        const fast = outcome(safeRedacted, v);
        const slow = outcome(general, v);
        expect(fast).toStrictEqual(slow);
        if ('ok' in fast && 'ok' in slow) {
          expect(JSON.stringify(fast.ok)).toBe(JSON.stringify(slow.ok));
          expect(outcome(canonicalJson, fast.ok)).toStrictEqual(outcome(canonicalJson, slow.ok));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the common shapes: a change of settings, metadata with a secret, nested lists', () => {
    for (const v of [
      { before: { name: 'a' }, after: { name: 'b' } },
      { email: 'x@example.test', role: 'admin', password: 'hunter2', nested: { apiKey: { a: 1 } } },
      { list: [1, -0, 'x', null, undefined, { token: 't' }], n: 1.5e300 },
      { __proto__: { polluted: true } },
      JSON.parse('{"__proto__": {"a": 1}, "b": 2}') as unknown,
    ]) {
      expect(safeRedacted(v)).toStrictEqual(general(v));
    }
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => safeRedacted(cyclic)).toThrow(TypeError);
    expect(() => safeRedacted({ big: 1n })).toThrow(TypeError);
  });
});
