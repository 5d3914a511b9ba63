import { describe, expect, it } from 'vitest';
import { compileFlag, evaluateFlag, type FlagSubject } from './flag-evaluation.js';
import { checkFlagSpec, specFromInput } from './flag-model.js';
import { isOverrideOf } from './flag-identity.js';

const FLAG = { id: '0193a000-0000-7000-8000-000000000001' };
const EARLIER = '0193a000-0000-7000-8000-000000000000';
const flag = compileFlag(
  'test.flag',
  checkFlagSpec(specFromInput({ kind: 'boolean', defaultValue: false, allowOrgOverride: true })),
  0,
  FLAG,
);
const subject = (origin: { flagId: string | null } | undefined): FlagSubject => ({
  organizationId: '0193a000-0000-7000-8000-0000000000aa',
  userId: null,
  plan: 'free',
  attributes: {},
  overrides: new Map([['test.flag', { value: true, canon: 'true', ...(origin ? { origin } : {}) }]]),
  entitlements: new Set(),
});

describe('which flag an override is of', () => {
  it('applies an override of this flag, never one of an earlier flag of the same key', () => {
    expect(evaluateFlag(flag, subject({ flagId: FLAG.id })).reason).toBe('override');
    expect(evaluateFlag(flag, subject({ flagId: EARLIER }))).toEqual({
      key: 'test.flag',
      value: false,
      reason: 'default',
    });
    // A flag with an identity takes no override that does not say which flag it is of.
    expect(evaluateFlag(flag, subject(undefined)).reason).toBe('default');
  });

  it('a row naming no flag (written before 0073) is the override of its key’s current flag, whenever written', () => {
    expect(isOverrideOf(FLAG, { flagId: null })).toBe(true);
    expect(isOverrideOf(FLAG, { flagId: EARLIER })).toBe(false);
    expect(evaluateFlag(flag, subject({ flagId: null })).reason).toBe('override');
  });
});
