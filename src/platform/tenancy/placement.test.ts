import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { createPlacementRouter } from './placement.js';
import type { Tenancy } from './tenancy.js';

describe('placement router cache', () => {
  let tenancy: Tenancy;
  const orgs: string[] = [];

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    for (let i = 0; i < 3; i++) orgs.push(await createTestOrg(tenancy, `pl-${i}`));
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('resolves a tenant without a placement record to the control database, then serves it from cache', async () => {
    const router = createPlacementRouter({ control: tenancy.control });
    expect(router.cached(orgs[0]!)).toBeUndefined();
    expect(await router.resolve(orgs[0]!)).toBe(tenancy.control);
    expect(router.cached(orgs[0]!)).toBe(tenancy.control);
  });

  it('concurrent resolves of one tenant share one lookup', async () => {
    const router = createPlacementRouter({ control: tenancy.control });
    const [a, b] = await Promise.all([router.resolve(orgs[1]!), router.resolve(orgs[1]!)]);
    expect(a).toBe(b);
  });

  it('a lookup in flight when the tenant is invalidated does not leave its (possibly stale) answer cached', async () => {
    const router = createPlacementRouter({ control: tenancy.control });
    const inFlight = router.resolve(orgs[0]!);
    router.invalidate(orgs[0]!);
    await inFlight;
    expect(router.cached(orgs[0]!)).toBeUndefined();
    // A lookup started after the invalidation is cached as usual.
    await router.resolve(orgs[0]!);
    expect(router.cached(orgs[0]!)).toBe(tenancy.control);
  });

  it('entries expire after ttlMs', async () => {
    const router = createPlacementRouter({ control: tenancy.control, ttlMs: 20 });
    await router.resolve(orgs[0]!);
    expect(router.cached(orgs[0]!)).toBe(tenancy.control);
    await new Promise((r) => setTimeout(r, 40));
    expect(router.cached(orgs[0]!)).toBeUndefined();
  });

  it('keeps at most `max` entries, dropping the oldest first', async () => {
    const router = createPlacementRouter({ control: tenancy.control, max: 2 });
    for (const org of orgs) await router.resolve(org);
    expect(router.cached(orgs[0]!)).toBeUndefined();
    expect(router.cached(orgs[1]!)).toBe(tenancy.control);
    expect(router.cached(orgs[2]!)).toBe(tenancy.control);
  });

  it('a moving organization routes to the guarded handle (its own prelude, reads in one transaction), and back once active', async () => {
    const org = await createTestOrg(tenancy, 'pl-mv');
    const admin = await connect(testDb().adminUrl);
    try {
      await admin.query(`update tenant_placements set state = 'moving' where organization_id = $1`, [org]);
      const router = createPlacementRouter({ control: tenancy.control });
      const moving = await router.resolve(org);
      expect(moving).not.toBe(tenancy.control);
      expect(moving.setter.transactionalReads).toBe(true);
      expect(moving.setter.prelude(org, 'read')[0]!.text).toContain('app_enter_moving_tenant');
      expect(router.cached(org)).toBe(moving);
      await admin.query(`update tenant_placements set state = 'active' where organization_id = $1`, [org]);
      router.invalidate(org);
      expect(await router.resolve(org)).toBe(tenancy.control);
    } finally {
      await admin.query(`update tenant_placements set state = 'active' where organization_id = $1`, [org]);
      await admin.end();
    }
  });
});
