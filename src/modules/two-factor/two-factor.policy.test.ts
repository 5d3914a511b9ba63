import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import { auditEvents } from '../../../test/support/audit.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import { codeFor, fakeClock, insertUser } from './two-factor.test-fixtures.js';
import { createTwoFactorService, type TwoFactorService } from './two-factor.service.js';
import {
  createTwoFactorPolicyService,
  enforceTwoFactorGate,
  twoFactorGate,
  type TwoFactorGateResult,
  type TwoFactorPolicyService,
} from './two-factor.policy.js';

describe('twoFactorGate', () => {
  const table: [orgRequires: boolean, userEnabled: boolean, sessionVerified: boolean, TwoFactorGateResult][] =
    [
      [false, false, false, 'ok'],
      [false, false, true, 'ok'],
      [false, true, false, 'verify_required'],
      [false, true, true, 'ok'],
      [true, false, false, 'enroll_required'],
      [true, false, true, 'enroll_required'],
      [true, true, false, 'verify_required'],
      [true, true, true, 'ok'],
    ];
  it.each(table)('orgRequires=%s userEnabled=%s sessionVerified=%s → %s', (o, u, s, expected) => {
    expect(twoFactorGate({ orgRequires: o, userEnabled: u, sessionVerified: s })).toBe(expected);
  });

  it('enforceTwoFactorGate throws the matching errors', () => {
    expect(() =>
      enforceTwoFactorGate({ orgRequires: false, userEnabled: false, sessionVerified: false }),
    ).not.toThrow();
    expect(() =>
      enforceTwoFactorGate({ orgRequires: true, userEnabled: false, sessionVerified: false }),
    ).toThrow(expect.objectContaining({ code: 'TWO_FACTOR_ENROLLMENT_REQUIRED', status: 403 }));
    expect(() =>
      enforceTwoFactorGate({ orgRequires: true, userEnabled: true, sessionVerified: false }),
    ).toThrow(expect.objectContaining({ code: 'TWO_FACTOR_REQUIRED', status: 401 }));
  });
});

describe('organization two-factor policy', () => {
  let tenancy: Tenancy;
  let db: PlatformDb;
  let twoFactor: TwoFactorService;
  let policy: TwoFactorPolicyService;
  const clock = fakeClock();

  beforeAll(() => {
    tenancy = createTestTenancy(4);
    db = createPlatformDb(tenancy.control.pool);
    twoFactor = createTwoFactorService({ db, kek: randomBytes(32), issuer: 'SaaSReady', now: clock.now });
    policy = createTwoFactorPolicyService({
      withTenant: tenancy.withTenant,
      isEnabled: (id) => twoFactor.isEnabled(id),
    });
  });
  afterAll(async () => {
    await db.destroy();
    await tenancy.close();
  });

  it('is off by default, and unknown or malformed organizations read as off', async () => {
    const org = await createTestOrg(tenancy, 'tfa');
    expect(await policy.requiresTwoFactor(org)).toBe(false);
    expect(await policy.requiresTwoFactor(uuidv7())).toBe(false);
    expect(await policy.requiresTwoFactor('nope')).toBe(false);
  });

  it('only a user with two-factor enabled can require it; turning it off needs nothing', async () => {
    const org = await createTestOrg(tenancy, 'tfb');
    const other = await createTestOrg(tenancy, 'tfc');
    const ctx = systemCtx(org, 'test');
    const u = await insertUser(db);
    await expect(policy.setRequirement(ctx, u.id, true)).rejects.toMatchObject({
      code: 'TWO_FACTOR_ENROLLMENT_REQUIRED',
      status: 403,
    });
    expect(await policy.requiresTwoFactor(org)).toBe(false);

    const { secret } = await twoFactor.beginEnrollment(u.id);
    await twoFactor.confirmEnrollment(u.id, codeFor(secret, clock.now()));
    expect(await policy.setRequirement(ctx, u.id, true)).toEqual({ required: true });
    expect(await policy.requiresTwoFactor(org)).toBe(true);
    expect(await policy.requiresTwoFactor(other)).toBe(false);

    const plain = await insertUser(db);
    const invalidated: string[] = [];
    const watched = createTwoFactorPolicyService({
      withTenant: tenancy.withTenant,
      isEnabled: (id) => twoFactor.isEnabled(id),
      onRequirementChanged: (id) => invalidated.push(id),
    });
    await expect(watched.setRequirement(ctx, plain.id, true)).rejects.toMatchObject({
      code: 'TWO_FACTOR_ENROLLMENT_REQUIRED',
    });
    expect(invalidated).toEqual([]);
    expect(await watched.setRequirement(ctx, u.id, true)).toEqual({ required: true });
    expect(invalidated).toEqual([org]);
    expect(await policy.setRequirement(ctx, plain.id, false)).toEqual({ required: false });
    expect(await policy.requiresTwoFactor(org)).toBe(false);

    // Each write audited with the value before and after; the refused ones wrote nothing; no TOTP secret.
    const events = await auditEvents(tenancy.withTenant, org);
    const change = (before: boolean, after: boolean) => ({
      action: 'organization.two_factor_requirement_changed',
      actor: { type: 'system', id: 'test' },
      target: { type: 'organization', id: org },
      changes: { before: { require_two_factor: before }, after: { require_two_factor: after } },
    });
    expect(events).toMatchObject([change(false, true), change(true, true), change(true, false)]);
    expect(JSON.stringify(events)).not.toContain(secret);
    expect(await auditEvents(tenancy.withTenant, other)).toEqual([]);
  });
});
