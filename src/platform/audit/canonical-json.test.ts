import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson, jsonSafe } from './canonical-json.js';
import { buildEntry, entryHash, GENESIS_HASH, redactSecrets, REDACTED } from './chain.js';

describe('canonical JSON', () => {
  it('sorts keys, drops undefined, writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: undefined, d: { z: 1.5, y: -0 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"d":{"y":0,"z":1.5}}',
    );
  });

  it('refuses values JSON cannot hold', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow();
    expect(() => canonicalJson(() => 1)).toThrow();
  });

  it('gives the same bytes after a JSON round trip, whatever the key order (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const safe = jsonSafe(v);
        const reparsed = JSON.parse(JSON.stringify(safe)) as unknown;
        expect(canonicalJson(reparsed)).toBe(canonicalJson(safe));
      }),
    );
  });

  it('writes exactly what its map/filter/join form wrote, or fails as it failed (property)', () => {
    const before = (value: unknown): string => {
      if (value === null) return 'null';
      switch (typeof value) {
        case 'string':
          return JSON.stringify(value);
        case 'boolean':
          return value ? 'true' : 'false';
        case 'number':
          if (!Number.isFinite(value)) throw new TypeError('non-finite');
          return JSON.stringify(value);
        case 'object': {
          if (Array.isArray(value)) return `[${value.map((v) => before(v ?? null)).join(',')}]`;
          const obj = value as Record<string, unknown>;
          const keys = Object.keys(obj)
            .filter((k) => obj[k] !== undefined)
            .sort();
          return `{${keys.map((k) => `${JSON.stringify(k)}:${before(obj[k])}`).join(',')}}`;
        }
        default:
          throw new TypeError(typeof value);
      }
    };
    const result = (f: (v: unknown) => string, v: unknown) => {
      try {
        return f(v);
      } catch (err) {
        return err instanceof TypeError ? 'TypeError' : 'other';
      }
    };
    const key = fc.oneof(fc.string({ maxLength: 5 }), fc.constantFrom('', '0', '10', 'a"\\', '\u2028', '😀'));
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.double(), fc.boolean(), fc.constant(null)),
        fc.constantFrom(undefined, -0, 1e21, Number.NaN, () => 1),
        fc.oneof(fc.array(tie('value'), { maxLength: 4 }), fc.sparseArray(tie('value'), { maxLength: 4 })),
        fc.dictionary(key, tie('value'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(value, (v) => {
        expect(result(canonicalJson, v)).toBe(result(before, v));
      }),
      { numRuns: 3000 },
    );
  });

  it('makes strings storable in jsonb: no NUL, no lone surrogate', () => {
    expect(jsonSafe({ s: 'a\u0000b\ud800c' })).toEqual({ s: 'ab\ufffdc' });
  });
});

describe('chain entries', () => {
  const base = {
    organizationId: '0190aaaa-0000-7000-8000-000000000001',
    seq: 1,
    id: '0190aaaa-0000-7000-8000-000000000002',
    occurredAt: new Date('2026-01-02T03:04:05.678Z'),
    actor: { kind: 'user', userId: 'u1' } as const,
    requestId: 'req-1',
    ip: '127.0.0.1',
    userAgent: 'curl/8',
  };

  it('hash = SHA-256(prev_hash ‖ canonical JSON): a fixed vector', () => {
    const entry = buildEntry({
      ...base,
      event: { action: 'member.invited', target: { type: 'invitation', id: 'i1' } },
    });
    expect(canonicalJson(entry)).toBe(
      '{"action":"member.invited","actor":{"id":"u1","type":"user"},"changes":null,"id":"0190aaaa-0000-7000-8000-000000000002","ip":"127.0.0.1","metadata":null,"occurred_at":"2026-01-02T03:04:05.678Z","organization_id":"0190aaaa-0000-7000-8000-000000000001","request_id":"req-1","seq":1,"target":{"id":"i1","type":"invitation"},"user_agent":"curl/8","v":1}',
    );
    expect(entryHash(GENESIS_HASH, entry).toString('hex')).toMatch(/^[0-9a-f]{64}$/);
    expect(entryHash(GENESIS_HASH, entry)).toEqual(entryHash(Buffer.alloc(32), { ...entry }));
    expect(entryHash(Buffer.alloc(32, 1), entry)).not.toEqual(entryHash(GENESIS_HASH, entry));
  });

  it('redacts anything that looks like a secret, at any depth', () => {
    expect(
      redactSecrets({
        name: 'ci',
        password: 'p',
        nested: [{ apiKey: 'k', token_hash: 'h' }],
        totpSecret: 's',
      }),
    ).toEqual({
      name: 'ci',
      password: REDACTED,
      nested: [{ apiKey: REDACTED, token_hash: REDACTED }],
      totpSecret: REDACTED,
    });
    const entry = buildEntry({
      ...base,
      event: {
        action: 'user.updated',
        target: { type: 'user' },
        changes: { before: { password: 'a' }, after: { password: 'b' } },
      },
    });
    expect(JSON.stringify(entry)).not.toMatch(/"a"|"b"/);
  });

  it('refuses a malformed action', () => {
    expect(() =>
      buildEntry({ ...base, event: { action: 'Member Invited', target: { type: 'x' } } }),
    ).toThrow();
  });
});

describe('splitAtSeq', () => {
  it('splits at the top-level seq even when changes or metadata hold a "seq" key', async () => {
    const { splitAtSeq } = await import('./draft.js');
    const entry = buildEntry({
      organizationId: 'o',
      seq: 0,
      id: 'i',
      occurredAt: new Date(0),
      actor: { kind: 'system', name: 's' },
      requestId: null,
      event: {
        action: 'x.y',
        target: { type: 't', id: ',"seq":0,' },
        changes: { before: { seq: 0 }, after: { seq: 1 } },
        metadata: { seq: 0, note: ',"seq":0,' },
      },
    });
    const [prefix, suffix] = splitAtSeq(canonicalJson(entry));
    expect(`${prefix}42${suffix}`).toBe(canonicalJson({ ...entry, seq: 42 }));
  });

  it('the entry written directly is canonicalJson split at its seq, byte for byte (property)', async () => {
    const { canonicalAroundSeq, splitAtSeq } = await import('./draft.js');
    const text = fc.option(fc.string({ unit: 'binary' }), { nil: null });
    fc.assert(
      fc.property(
        fc.record({
          targetId: text,
          targetType: fc.string({ unit: 'binary' }),
          ip: text,
          userAgent: text,
          requestId: text,
          org: fc.option(fc.uuid(), { nil: null }),
          changes: fc.option(fc.record({ before: fc.jsonValue(), after: fc.jsonValue() }), { nil: null }),
          metadata: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: null }),
          actor: fc.constantFrom(
            { kind: 'system', name: 'job' } as const,
            { kind: 'user', userId: 'u\u2028"1' } as const,
            { kind: 'anonymous' } as const,
          ),
        }),
        (r) => {
          const entry = buildEntry({
            organizationId: r.org,
            seq: 0,
            id: '0190aaaa-0000-7000-8000-000000000002',
            occurredAt: new Date(0),
            actor: r.actor,
            requestId: r.requestId,
            ip: r.ip,
            userAgent: r.userAgent,
            event: {
              action: 'x.y',
              target: { type: r.targetType, id: r.targetId },
              changes: r.changes,
              metadata: r.metadata,
            },
          });
          const changes = entry.changes === null ? null : canonicalJson(entry.changes);
          const metadata = entry.metadata === null ? null : canonicalJson(entry.metadata);
          expect(canonicalAroundSeq(entry, changes, metadata)).toEqual(splitAtSeq(canonicalJson(entry)));
        },
      ),
    );
  });

  it('jsonSafe takes the slow path only when it must, and agrees with it', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary' }), fc.string({ unit: 'binary' }), (v, s) => {
        const slow = (x: unknown) =>
          JSON.parse(
            JSON.stringify(x, (_k, y: unknown) =>
              typeof y === 'string'
                ? y
                    .replace(
                      /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g,
                      '\uFFFD',
                    )
                    .replaceAll('\u0000', '')
                : y,
            ),
          ) as unknown;
        expect(jsonSafe(v)).toEqual(slow(v));
        expect(jsonSafe({ s })).toEqual(slow({ s }));
        expect(jsonSafe(`a\u0000${s}\ud800`)).toEqual(slow(`a\u0000${s}\ud800`));
      }),
    );
  });
});
