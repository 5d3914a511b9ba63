import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  platformCacheKey,
  tenantCacheKey,
  tenantCacheKeyMemo,
  tenantOfCacheKey,
  type CacheKey,
} from './cache-keys.js';

const A = '0190f0a0-1111-7aaa-8bbb-000000000001';
const B = '0190f0a0-2222-7aaa-8bbb-000000000002';

describe('tenantCacheKey', () => {
  it('formats sr:t:<tenant>:<namespace>:<parts…>', () => {
    expect(tenantCacheKey(A, 'projects.by-id', 'p1', 42)).toBe(`sr:t:${A}:projects.by-id:p1:42`);
    expect(tenantCacheKey(A, 'settings')).toBe(`sr:t:${A}:settings`);
  });

  it('encodes parts so ":" and "%" cannot forge structure', () => {
    expect(tenantCacheKey(A, 'ns', 'a:b', '50%', '')).toBe(`sr:t:${A}:ns:a%3Ab:50%25:`);
    const forged = tenantCacheKey(A, 'ns', `x:sr:t:${B}:ns`);
    expect(forged).toBe(`sr:t:${A}:ns:x%3Asr%3At%3A${B}%3Ans`);
    expect(tenantOfCacheKey(forged)).toBe(A);
    expect(tenantCacheKey(A, 'ns', 'a:b')).not.toBe(tenantCacheKey(A, 'ns', 'a', 'b'));
  });

  it.each([
    ['uppercase', A.toUpperCase()],
    ['braced', `{${A}}`],
    ['no hyphens', A.replaceAll('-', '')],
    ['empty', ''],
    ['with colon', `${A}:x`],
    ['not a uuid', 'tenant-a'],
  ])('rejects a %s tenant id with a TypeError', (_label, tenantId) => {
    expect(() => tenantCacheKey(tenantId, 'ns')).toThrow(TypeError);
  });

  it.each(['', 'Projects', '1abc', '_x', 'a:b', 'a b', 'a/b', `a${'b'.repeat(64)}`])(
    'rejects namespace %j with a TypeError',
    (ns) => {
      expect(() => tenantCacheKey(A, ns)).toThrow(TypeError);
      expect(() => platformCacheKey(ns)).toThrow(TypeError);
    },
  );

  it('accepts a 64-character namespace', () => {
    const ns = `a${'b'.repeat(63)}`;
    expect(tenantCacheKey(A, ns)).toBe(`sr:t:${A}:${ns}`);
  });

  it('rejects non-finite numbers and ill-formed Unicode parts', () => {
    expect(() => tenantCacheKey(A, 'ns', Number.NaN)).toThrow(TypeError);
    expect(() => tenantCacheKey(A, 'ns', Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => tenantCacheKey(A, 'ns', '\uD800')).toThrow(TypeError);
  });
});

describe('platformCacheKey', () => {
  it('formats sr:p:<namespace>:<parts…> and has no tenant', () => {
    const key = platformCacheKey('flags.definitions', 'v:1');
    expect(key).toBe('sr:p:flags.definitions:v%3A1');
    expect(tenantOfCacheKey(key)).toBeNull();
  });
});

describe('tenantOfCacheKey', () => {
  it('recovers the tenant of a tenant key', () => {
    expect(tenantOfCacheKey(tenantCacheKey(B, 'ns', 'x'))).toBe(B);
  });

  it.each([
    '',
    'sr:t:',
    `sr:t:${A}`,
    `sr:t:${A}x:ns`,
    `sr:t:${A.toUpperCase()}:ns`,
    'sr:p:',
    'sr:x:ns',
    'foo',
  ])('throws on the malformed key %j', (raw) => {
    expect(() => tenantOfCacheKey(raw as CacheKey)).toThrow(TypeError);
  });
});

describe('key factory properties', () => {
  const tenantId = fc.uuid();
  const namespace = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,15}$/);
  const part = fc.oneof(
    fc.string(),
    fc.string({ unit: fc.constantFrom(':', '%', '3', 'A', 'a', 's', 'r', 't', 'p', '-') }),
    fc.string({ unit: 'grapheme' }),
    fc.integer(),
  );
  const parts = fc.array(part, { maxLength: 5 });

  it('keys of different tenants never collide and tenantOfCacheKey round-trips', () => {
    fc.assert(
      fc.property(tenantId, tenantId, namespace, namespace, parts, parts, (a, b, nsA, nsB, pA, pB) => {
        fc.pre(a !== b);
        const keyA = tenantCacheKey(a, nsA, ...pA);
        const keyB = tenantCacheKey(b, nsB, ...pB);
        expect(keyA).not.toBe(keyB);
        expect(tenantOfCacheKey(keyA)).toBe(a);
        expect(tenantOfCacheKey(keyB)).toBe(b);
        expect(keyA).not.toBe(platformCacheKey(nsB, ...pB));
      }),
      { numRuns: 500 },
    );
  });

  it('within a tenant, the parts are recoverable from the key, so distinct parts never collide', () => {
    const strParts = fc.array(fc.string({ unit: fc.constantFrom(':', '%', '3', 'A', 'a') }), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(tenantId, namespace, strParts, (t, ns, ps) => {
        const key = tenantCacheKey(t, ns, ...ps);
        const [, , , keyNs, ...encoded] = key.split(':');
        expect(keyNs).toBe(ns);
        expect(encoded.map((e) => decodeURIComponent(e))).toEqual(ps);
        if (ps.length >= 2) expect(tenantCacheKey(t, ns, ps.join(':'))).not.toBe(key);
      }),
      { numRuns: 500 },
    );
  });

  it('the memo answers exactly what the factory builds, validates as it does, and stays bounded', () => {
    const memo = tenantCacheKeyMemo('membership', 3);
    fc.assert(
      fc.property(
        fc.constantFrom(A, B),
        fc.option(fc.string({ maxLength: 6 }), { nil: undefined }),
        (t, part) => {
          const expected =
            part === undefined ? tenantCacheKey(t, 'membership') : tenantCacheKey(t, 'membership', part);
          expect(memo(t, part)).toBe(expected);
          expect(memo(t, part)).toBe(expected); // remembered (or forgotten at the bound) the same
        },
      ),
      { numRuns: 300 },
    );
    expect(memo(A, '')).toBe(`sr:t:${A}:membership:`);
    expect(memo(A)).toBe(`sr:t:${A}:membership`);
    expect(() => memo('not-a-uuid')).toThrow(TypeError);
    expect(() => memo(A.toUpperCase(), 'x')).toThrow(TypeError);
    expect(() => tenantCacheKeyMemo('Bad Namespace')).toThrow(TypeError);
  });
});
