import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BucketMemo,
  bucketOf,
  compileFlag,
  compileFlagSet,
  evaluateAll,
  evaluateFlag,
  type FlagSubject,
} from './flag-evaluation.js';
import { checkFlagSpec, specFromInput, type FlagInput } from './flag-model.js';

const ORG = '01900000-0000-7000-8000-000000000001';
/** Sequential, UUID-shaped ids: deterministic, and the worst case for a weak hash. */
const idOf = (i: number) => `01900000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;

const flag = (input: Omit<FlagInput, 'key'>, key = 'test.flag') =>
  compileFlag(key, checkFlagSpec(specFromInput(input)));

const subject = (over: Partial<FlagSubject> = {}): FlagSubject => ({
  organizationId: ORG,
  userId: idOf(1),
  plan: 'free',
  attributes: {},
  overrides: new Map(),
  entitlements: new Set(),
  ...over,
});
const override = (value: unknown) => ({ value, canon: JSON.stringify(value) });

describe('flag evaluation', () => {
  it('bucketOf is the first 4 bytes of SHA-256("<flag>:<unit>") as uint32, mod 10,000', () => {
    const expected = createHash('sha256').update('checkout.v2:user-42').digest().readUInt32BE(0) % 10_000;
    expect(bucketOf('checkout.v2', 'user-42')).toBe(expected);
    // Pinned: a change of hashing would move every rollout.
    expect(expected).toBe(7568);
    for (let i = 0; i < 1000; i++) {
      const b = bucketOf('f', idOf(i));
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(10_000);
      expect(Number.isInteger(b)).toBe(true);
    }
  });

  it('order: kill switch, then override, then the first matching rule, then the rollout, then the default', () => {
    const f = flag({
      kind: 'boolean',
      defaultValue: false,
      allowOrgOverride: true,
      rules: [{ plans: ['pro'], value: true }],
      rollout: { by: 'organization', percentage: 100 },
    });
    const killed = flag({ kind: 'boolean', defaultValue: true, killed: true, allowOrgOverride: true });
    expect(evaluateFlag(killed, subject({ overrides: new Map([['test.flag', override(true)]]) }))).toEqual({
      key: 'test.flag',
      value: false,
      reason: 'killed',
    });
    expect(
      evaluateFlag(f, subject({ plan: 'pro', overrides: new Map([['test.flag', override(false)]]) })),
    ).toEqual({ key: 'test.flag', value: false, reason: 'override' });
    expect(evaluateFlag(f, subject({ plan: 'pro' }))).toMatchObject({ value: true, reason: 'rule' });
    expect(evaluateFlag(f, subject({ plan: 'free' }))).toMatchObject({ value: true, reason: 'rollout' });
    const plain = flag({ kind: 'boolean', defaultValue: true });
    expect(evaluateFlag(plain, subject())).toEqual({ key: 'test.flag', value: true, reason: 'default' });
  });

  it('a plan entitlement turns a boolean flag on, after the kill switch and an override, before rules and rollouts', () => {
    const entitled = new Set(['test.flag']);
    const f = flag({
      kind: 'boolean',
      defaultValue: false,
      allowOrgOverride: true,
      rules: [{ plans: ['free'], value: false }],
      rollout: { by: 'organization', percentage: 0 },
    });
    expect(evaluateFlag(f, subject({ entitlements: entitled }))).toEqual({
      key: 'test.flag',
      value: true,
      reason: 'entitlement',
    });
    expect(evaluateFlag(f, subject())).toMatchObject({ value: false, reason: 'rule' });
    expect(
      evaluateFlag(
        f,
        subject({ entitlements: entitled, overrides: new Map([['test.flag', override(false)]]) }),
      ),
    ).toEqual({ key: 'test.flag', value: false, reason: 'override' });
    const killed = flag({ kind: 'boolean', defaultValue: true, killed: true });
    expect(evaluateFlag(killed, subject({ entitlements: entitled }))).toMatchObject({
      value: false,
      reason: 'killed',
    });
    // Another flag's entitlement, or a multivariate flag (no "on" value), changes nothing.
    expect(evaluateFlag(f, subject({ entitlements: new Set(['other.flag']) }))).toMatchObject({
      reason: 'rule',
    });
    const mv = flag({
      kind: 'multivariate',
      variants: [
        { key: 'a', value: 'a' },
        { key: 'b', value: 'b' },
      ],
      defaultValue: 'a',
    });
    expect(evaluateFlag(mv, subject({ entitlements: entitled }))).toMatchObject({
      value: 'a',
      reason: 'default',
    });
  });

  it('an override counts only where the flag allows it, and only while it fits the variants', () => {
    const closed = flag({ kind: 'boolean', defaultValue: false });
    expect(
      evaluateFlag(closed, subject({ overrides: new Map([['test.flag', override(true)]]) })),
    ).toMatchObject({
      value: false,
      reason: 'default',
    });
    const mv = flag({
      kind: 'multivariate',
      variants: [
        { key: 'a', value: 'A' },
        { key: 'b', value: { color: 'blue', size: 2 } },
      ],
      defaultValue: 'A',
      allowOrgOverride: true,
    });
    const stale = subject({ overrides: new Map([['test.flag', override('gone')]]) });
    expect(evaluateFlag(mv, stale)).toMatchObject({ value: 'A', reason: 'default', variant: 'a' });
    // Object values match whatever the key order (jsonb reorders keys).
    const obj = { size: 2, color: 'blue' };
    const ok = subject({
      overrides: new Map([['test.flag', { value: obj, canon: '{"color":"blue","size":2}' }]]),
    });
    expect(evaluateFlag(mv, ok)).toEqual({ key: 'test.flag', value: obj, reason: 'override', variant: 'b' });
  });

  it('rules: plan AND every attribute must match; the first matching rule wins', () => {
    const f = flag({
      kind: 'multivariate',
      variants: [
        { key: 'off', value: 'off' },
        { key: 'eu-pro', value: 'eu-pro' },
        { key: 'big', value: 'big' },
      ],
      defaultValue: 'off',
      rules: [
        { plans: ['pro', 'enterprise'], attributes: { region: ['eu'] }, value: 'eu-pro' },
        { attributes: { seats: [100, 500], beta: [true] }, value: 'big' },
      ],
    });
    const ev = (plan: string, attributes: Record<string, unknown>) =>
      evaluateFlag(f, subject({ plan, attributes }));
    expect(ev('pro', { region: 'eu' })).toMatchObject({ value: 'eu-pro', reason: 'rule', variant: 'eu-pro' });
    expect(ev('enterprise', { region: 'eu', seats: 100, beta: true })).toMatchObject({ value: 'eu-pro' });
    expect(ev('free', { region: 'eu' })).toMatchObject({ value: 'off', reason: 'default' });
    expect(ev('pro', { region: 'us' })).toMatchObject({ value: 'off' });
    expect(ev('free', { seats: 100, beta: true })).toMatchObject({ value: 'big', reason: 'rule' });
    expect(ev('free', { seats: 100 })).toMatchObject({ value: 'off' });
    expect(ev('free', { seats: '100', beta: true })).toMatchObject({ value: 'off' }); // types must match
    expect(ev('free', { seats: 100, beta: 'true' })).toMatchObject({ value: 'off' });
  });

  it('rollout: 10,000 simulated users land within ±2 % of 30 %, and each always gets the same answer', () => {
    const f = flag({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 30 } });
    const again = flag({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 30 } });
    let on = 0;
    for (let i = 0; i < 10_000; i++) {
      const s = subject({ userId: idOf(i) });
      const first = evaluateFlag(f, s);
      if (first.value === true) on++;
      expect(first.reason).toBe('rollout');
      // Same user: same answer, from another compilation of the same definition and in another org.
      expect(evaluateFlag(f, s).value).toBe(first.value);
      expect(evaluateFlag(again, subject({ userId: idOf(i), organizationId: randomUUID() })).value).toBe(
        first.value,
      );
    }
    expect(on / 10_000).toBeGreaterThanOrEqual(0.28);
    expect(on / 10_000).toBeLessThanOrEqual(0.32);

    let random = 0;
    for (let i = 0; i < 10_000; i++) if (evaluateFlag(f, subject({ userId: randomUUID() })).value) random++;
    expect(Math.abs(random / 10_000 - 0.3)).toBeLessThanOrEqual(0.02);
  });

  it('rollout by organization: 10,000 organizations within ±2 %, the same for every user of one organization', () => {
    const f = flag({
      kind: 'boolean',
      defaultValue: false,
      rollout: { by: 'organization', percentage: 12.5 },
    });
    let on = 0;
    for (let i = 0; i < 10_000; i++) {
      const org = idOf(i);
      const a = evaluateFlag(f, subject({ organizationId: org, userId: idOf(20_000 + i) })).value;
      const b = evaluateFlag(f, subject({ organizationId: org, userId: idOf(40_000 + i) })).value;
      expect(b).toBe(a);
      if (a) on++;
    }
    expect(Math.abs(on / 10_000 - 0.125)).toBeLessThanOrEqual(0.02);
  });

  it('a user rollout without a user (API key) buckets by the organization', () => {
    const f = flag({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 50 } });
    for (let i = 0; i < 200; i++) {
      const org = idOf(i);
      expect(evaluateFlag(f, subject({ organizationId: org, userId: null })).value).toBe(
        bucketOf('test.flag', org) < 5000,
      );
    }
  });

  it('raising a percentage keeps everyone who was in; different flags bucket independently', () => {
    const at = (p: number, key = 'test.flag') =>
      flag({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: p } }, key);
    const [p10, p40, other] = [at(10), at(40), at(10, 'other.flag')];
    let both = 0;
    for (let i = 0; i < 10_000; i++) {
      const s = subject({ userId: idOf(i) });
      if (evaluateFlag(p10, s).value) {
        expect(evaluateFlag(p40, s).value).toBe(true);
        if (evaluateFlag(other, s).value) both++;
      }
    }
    // Independent: about 10 % of the 10 % are in the other flag too (not all of them).
    expect(both).toBeGreaterThan(50);
    expect(both).toBeLessThan(170);
  });

  it('multivariate weights split 10,000 users within ±2 % of each weight; 0 and 100 are exact', () => {
    const f = flag({
      kind: 'multivariate',
      variants: [
        { key: 'control', value: 'control' },
        { key: 'a', value: 'a' },
        { key: 'b', value: 'b' },
      ],
      defaultValue: 'control',
      rollout: {
        by: 'user',
        weights: [
          { value: 'control', weight: 50 },
          { value: 'a', weight: 33.33 },
          { value: 'b', weight: 16.67 },
        ],
      },
    });
    const counts: Record<string, number> = { control: 0, a: 0, b: 0 };
    for (let i = 0; i < 10_000; i++) {
      const e = evaluateFlag(f, subject({ userId: idOf(i) }));
      expect(e.variant).toBe(e.value);
      counts[e.value as string]!++;
    }
    expect(Math.abs(counts.control! / 10_000 - 0.5)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(counts.a! / 10_000 - 0.3333)).toBeLessThanOrEqual(0.02);
    expect(Math.abs(counts.b! / 10_000 - 0.1667)).toBeLessThanOrEqual(0.02);

    const none = flag({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 0 } });
    const all = flag({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 100 } });
    for (let i = 0; i < 2000; i++) {
      expect(evaluateFlag(none, subject({ userId: idOf(i) })).value).toBe(false);
      expect(evaluateFlag(all, subject({ userId: idOf(i) })).value).toBe(true);
    }
  });

  it('a rule with a rollout serves its value inside the percentage and the default outside', () => {
    const f = flag({
      kind: 'boolean',
      defaultValue: false,
      rules: [{ plans: ['pro'], rollout: { by: 'organization', percentage: 50 } }],
    });
    let on = 0;
    for (let i = 0; i < 4000; i++) {
      const e = evaluateFlag(f, subject({ organizationId: idOf(i), plan: 'pro' }));
      expect(e.reason).toBe('rule');
      if (e.value) on++;
    }
    expect(Math.abs(on / 4000 - 0.5)).toBeLessThanOrEqual(0.03);
  });

  it('evaluateAll answers every flag in order', () => {
    const set = compileFlagSet(
      ['a', 'b', 'c'].map((key) => ({
        key,
        spec: checkFlagSpec(specFromInput({ kind: 'boolean', defaultValue: key === 'b' })),
      })),
    );
    expect(evaluateAll(set, subject()).map((e) => [e.key, e.value])).toEqual([
      ['a', false],
      ['b', true],
      ['c', false],
    ]);
  });

  it('the bucket memo of a set changes no answer (returning users, evicted users, organization units)', () => {
    const specs = [
      { kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 30 } },
      { kind: 'boolean', defaultValue: false, rollout: { by: 'organization', percentage: 60 } },
      {
        kind: 'multivariate',
        variants: [
          { key: 'x', value: 'x' },
          { key: 'y', value: 'y' },
        ],
        defaultValue: 'x',
        rules: [
          {
            plans: ['pro'],
            rollout: {
              by: 'user',
              weights: [
                { value: 'x', weight: 10 },
                { value: 'y', weight: 90 },
              ],
            },
          },
        ],
      },
    ] satisfies Omit<FlagInput, 'key'>[];
    const compiled = compileFlagSet(
      specs.map((spec, i) => ({ key: `memo.${i}`, spec: checkFlagSpec(specFromInput(spec)) })),
    );
    // A memo of 100 units: most of these users are evicted and come back.
    const set = { flags: compiled.flags, buckets: new BucketMemo(specs.length, 100) };
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 12_000; i += 7) {
        const s = subject({ userId: idOf(i), organizationId: idOf(i % 50), plan: i % 2 ? 'pro' : 'free' });
        expect(evaluateAll(set, s)).toEqual(set.flags.map((f) => evaluateFlag(f, s)));
      }
    }
  });
});

describe('flag definition validation', () => {
  const invalid = (input: Omit<FlagInput, 'key'>) => {
    try {
      checkFlagSpec(specFromInput(input));
    } catch (err) {
      return (err as { code: string; message: string }).message;
    }
    return 'valid';
  };
  const mv = [
    { key: 'a', value: 'A' },
    { key: 'b', value: 'B' },
  ];

  it('accepts the documented shapes and fills in defaults', () => {
    const spec = checkFlagSpec(
      specFromInput({ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 12.34 } }),
    );
    expect(spec).toMatchObject({
      offValue: false,
      killed: false,
      rollout: { value: true, percentage: 12.34 },
    });
    expect(
      checkFlagSpec(specFromInput({ kind: 'multivariate', variants: mv, defaultValue: 'B' })).offValue,
    ).toBe('B');
  });

  it('rejects what no schema can say, naming the field', () => {
    const cases: [Omit<FlagInput, 'key'>, RegExp][] = [
      [{ kind: 'boolean', defaultValue: 'yes' }, /^defaultValue must be true or false/],
      [{ kind: 'boolean', defaultValue: false, variants: mv }, /^variants: boolean flags/],
      [{ kind: 'multivariate', variants: mv, defaultValue: 'C' }, /^defaultValue must be the value of one/],
      [
        { kind: 'multivariate', variants: [mv[0]!], defaultValue: 'A' },
        /^variants: a multivariate flag needs 2/,
      ],
      [
        { kind: 'multivariate', variants: [mv[0]!, { key: 'a', value: 'X' }], defaultValue: 'A' },
        /used twice/,
      ],
      [
        { kind: 'multivariate', variants: [mv[0]!, { key: 'b', value: 'A' }], defaultValue: 'A' },
        /value is used twice/,
      ],
      [{ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 12.345 } }, /two decimals/],
      [{ kind: 'boolean', defaultValue: false, rollout: { by: 'user', percentage: 101 } }, /0 to 100/],
      [{ kind: 'boolean', defaultValue: false, rollout: { by: 'user' } }, /^rollout needs either/],
      [
        {
          kind: 'boolean',
          defaultValue: false,
          rollout: { by: 'user', weights: [{ value: true, weight: 100 }] },
        },
        /multivariate flags only/,
      ],
      [
        {
          kind: 'multivariate',
          variants: mv,
          defaultValue: 'A',
          rollout: {
            by: 'user',
            weights: [
              { value: 'A', weight: 50 },
              { value: 'B', weight: 49.99 },
            ],
          },
        },
        /add up to 100/,
      ],
      [{ kind: 'boolean', defaultValue: false, rules: [{ value: true }] }, /^rules\[0\] needs plans and\/or/],
      [
        { kind: 'boolean', defaultValue: false, rules: [{ plans: ['pro'] }] },
        /^rules\[0\] needs either value/,
      ],
      [
        { kind: 'boolean', defaultValue: false, rules: [{ plans: ['Pro!'], value: true }] },
        /^rules\[0\]\.plans\[0\]/,
      ],
      [
        { kind: 'boolean', defaultValue: false, rules: [{ attributes: { region: [] }, value: true }] },
        /^rules\[0\]\.attributes\.region needs 1/,
      ],
      [
        {
          kind: 'boolean',
          defaultValue: false,
          rules: [{ attributes: { region: [{}] as never }, value: true }],
        },
        /must be a string/,
      ],
      [
        { kind: 'multivariate', variants: mv, defaultValue: 'A', rules: [{ plans: ['pro'], value: 'Z' }] },
        /^rules\[0\]\.value must be the value/,
      ],
      [
        {
          kind: 'multivariate',
          variants: [mv[0]!, { key: 'big', value: 'x'.repeat(70_000) }],
          defaultValue: 'A',
        },
        /larger than 64 KiB/,
      ],
    ];
    for (const [input, message] of cases) expect(invalid(input)).toMatch(message);
  });
});
