import { describe, expect, it } from 'vitest';
import { validatorCompiler } from './validator.js';

/** The body validator's storability check: what PostgreSQL would refuse is a 400 at the right path. */
describe('validatorCompiler: unstorable values', () => {
  const compile = () =>
    validatorCompiler({
      schema: { type: 'object' },
      httpPart: 'body',
      method: 'POST',
      url: '/x',
    }) as unknown as {
      (data: unknown): boolean;
      errors: { instancePath: string; keyword: string }[] | null;
    };

  it('accepts storable bodies, objects with a null prototype included', () => {
    const check = compile();
    const bare = Object.assign(Object.create(null) as object, { a: 'x' });
    for (const body of [{ a: ['b', 1, true, null, { c: 'é ✓ 𝄞' }] }, {}, bare]) {
      expect(check(body)).toBe(true);
      expect(check.errors).toBeNull();
    }
  });

  it('refuses NUL, an unpaired surrogate or a non-finite number at its path, in values and keys', () => {
    const check = compile();
    const cases: [unknown, string][] = [
      [{ a: { b: 'x\u0000y' } }, '/a/b'],
      [{ a: ['ok', 'lone \uD800'] }, '/a/1'],
      [{ a: [{ n: Infinity }] }, '/a/0/n'],
      [{ a: { 'k\u0000': 1 } }, '/a'],
      [{ a: 'ok', b: '\uDC00' }, '/b'],
    ];
    for (const [body, path] of cases) {
      expect(check(body)).toBe(false);
      expect(check.errors?.[0]).toMatchObject({ instancePath: path, keyword: 'nul' });
    }
  });
});
