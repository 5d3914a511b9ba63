import { describe, expect, it } from 'vitest';
import { compileFlag, evaluateFlag, type FlagSubject } from './flag-evaluation.js';
import { checkFlagSpec, specFromInput } from './flag-model.js';
import { isOverrideOf } from './flag-identity.js';

const FLAG = { id: '0193a000-0000-7000-8000-000000000001', createdAtMs: Date.UTC(2026, 11, 1) };
const EARLIER = '0193a000-0000-7000-8000-000000000000';
const flag = compileFlag(
  'test.flag',
  checkFlagSpec(specFromInput({ kind: 'boolean', defaultValue: false, allowOrgOverride: true })),
  0,
  FLAG,
);
const subject = (origin: { flagId: string | null; updatedAtMs: number } | undefined): FlagSubject => ({
  organizationId: '0193a000-0000-7000-8000-0000000000aa',
  userId: null,
  plan: 'free',
  attributes: {},
  overrides: new Map([['test.flag', { value: true, canon: 'true', ...(origin ? { origin } : {}) }]]),
  entitlements: new Set(),
});

describe('which flag an override is of', () => {
  it('applies an override of this flag, never one of an earlier flag of the same key', () => {
    const later = FLAG.createdAtMs + 1000;
    expect(evaluateFlag(flag, subject({ flagId: FLAG.id, updatedAtMs: later })).reason).toBe('override');
    expect(evaluateFlag(flag, subject({ flagId: EARLIER, updatedAtMs: later }))).toEqual({
      key: 'test.flag',
      value: false,
      reason: 'default',
    });
    // A flag with an identity takes no override that does not say which flag it is of.
    expect(evaluateFlag(flag, subject(undefined)).reason).toBe('default');
  });

  it('a row naming no flag (written before 0073) is of the flag created no later than it was written', () => {
    expect(isOverrideOf(FLAG, { flagId: null, updatedAtMs: FLAG.createdAtMs })).toBe(true);
    expect(isOverrideOf(FLAG, { flagId: null, updatedAtMs: FLAG.createdAtMs - 1 })).toBe(false);
    expect(evaluateFlag(flag, subject({ flagId: null, updatedAtMs: FLAG.createdAtMs + 5 })).reason).toBe(
      'override',
    );
    expect(evaluateFlag(flag, subject({ flagId: null, updatedAtMs: FLAG.createdAtMs - 5 })).reason).toBe(
      'default',
    );
  });
});
