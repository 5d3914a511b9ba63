import { describe, expect, it } from 'vitest';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { createOrganizationPolicies } from './organization-policy.js';

const ORG = '01900000-0000-7000-8000-000000000001';

/**
 * A `withTenant` over one organization row whose reads can be held: each read takes the row as it is
 * when the read starts (its snapshot) and answers when released.
 */
function fakeTenancy() {
  const row = {
    require_two_factor: false,
    lifecycle_state: 'active' as 'active' | 'suspended' | 'pending_deletion',
    suspension_reason: null as 'admin' | 'billing' | 'deletion' | null,
  };
  const suspend = (on: boolean) => {
    row.lifecycle_state = on ? 'suspended' : 'active';
    row.suspension_reason = on ? 'admin' : null;
  };
  const held: (() => void)[] = [];
  let hold = false;
  let reads = 0;
  const withTenant = (async (_orgId: string, fn: (db: unknown) => Promise<unknown>) => {
    reads++;
    const snapshot = { ...row };
    // Just enough of Kysely for a precompiled statement: a builder that compiles, and executeQuery.
    const db = {
      selectFrom: () => ({
        select: () => ({
          where: (_column: string, _op: string, value: unknown) => ({
            compile: () => ({ sql: 'select', parameters: [value], query: {}, queryId: {} }),
          }),
        }),
      }),
      executeQuery: () => Promise.resolve({ rows: [snapshot] }),
    };
    if (hold) await new Promise<void>((r) => held.push(r));
    return fn(db);
  }) as unknown as WithTenant;
  return {
    withTenant,
    row,
    suspend,
    reads: () => reads,
    hold: (on: boolean) => void (hold = on),
    release: () => held.splice(0).forEach((r) => r()),
  };
}

describe('organization policies (in-process cache)', () => {
  it('serves from cache until invalidated', async () => {
    const t = fakeTenancy();
    const policies = createOrganizationPolicies({ withTenant: t.withTenant });
    expect(await policies.get(ORG)).toEqual({
      requireTwoFactor: false,
      state: 'active',
      suspensionReason: null,
    });
    t.suspend(true);
    expect((await policies.get(ORG))?.state).toBe('active');
    expect(t.reads()).toBe(1);
    policies.invalidate(ORG);
    expect(await policies.get(ORG)).toMatchObject({ state: 'suspended', suspensionReason: 'admin' });
    expect(t.reads()).toBe(2);
  });

  it('a read taken before a change and finished after its invalidation is not kept', async () => {
    const t = fakeTenancy();
    const policies = createOrganizationPolicies({ withTenant: t.withTenant });
    t.suspend(true);
    // A request reads the suspended row; meanwhile the organization is reactivated and invalidated.
    t.hold(true);
    const stale = policies.get(ORG);
    t.suspend(false);
    policies.invalidate(ORG);
    t.hold(false);
    t.release();
    expect((await stale)?.state).toBe('suspended');
    // The next request does not get that answer from the cache: it reads again.
    expect((await policies.get(ORG))?.state).toBe('active');
    expect(t.reads()).toBe(2);
  });
});
