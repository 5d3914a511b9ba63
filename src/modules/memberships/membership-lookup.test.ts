import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { builtInRoles } from '../../platform/authz/roles.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { createMembershipLookup } from './membership-lookup.js';
import { identityFixtures } from './memberships.test-support.js';

describe('membership lookup', () => {
  let tenancy: Tenancy;
  let fx: ReturnType<typeof identityFixtures>;
  let loads: number;
  let countingWithTenant: WithTenant;

  beforeAll(() => {
    tenancy = createTestTenancy(4);
    fx = identityFixtures(tenancy);
    countingWithTenant = (tenantId, fn, opts) => {
      loads += 1;
      return tenancy.withTenant(tenantId, fn, opts);
    };
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('answers active memberships with built-in permissions and the permissions version', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('lk');
    const viewer = await fx.member(orgId, { role: 'viewer' });
    const lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    const m = await lookup.activeMembership(orgId, viewer);
    expect(m).toEqual({ role: 'viewer', permissions: new Set(builtInRoles.viewer), permissionsVersion: 1 });
    expect((await lookup.activeMembership(orgId, ownerId))?.permissions).toEqual(new Set(builtInRoles.owner));
  });

  it('resolves custom role permissions, ignoring unknown strings', async () => {
    const { orgId } = await fx.orgWithOwner('lk');
    await fx.role(orgId, 'auditor', ['audit:read', 'org:read', 'bogus:perm']);
    const u = await fx.member(orgId, { role: 'auditor' });
    const lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    expect((await lookup.activeMembership(orgId, u))?.permissions).toEqual(
      new Set(['audit:read', 'org:read']),
    );
  });

  it('is null for a missing member, a pending one, another org’s member, malformed ids, a deleted org', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('lk');
    const other = await fx.orgWithOwner('lk');
    const pending = await fx.member(orgId, { role: 'admin', status: 'pending' });
    const lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    expect(await lookup.activeMembership(orgId, uuidv7())).toBeNull();
    expect(await lookup.activeMembership(orgId, pending)).toBeNull();
    expect(await lookup.activeMembership(orgId, other.ownerId)).toBeNull();
    expect(await lookup.activeMembership('not-a-uuid', ownerId)).toBeNull();
    expect(await lookup.activeMembership(orgId, 'nope')).toBeNull();
    expect(await lookup.activeMembership(orgId, ownerId)).not.toBeNull();
    await tenancy.withTenant(orgId, (db) =>
      db
        .updateTable('organizations')
        .set({
          lifecycle_state: 'suspended',
          suspension_reason: 'deletion',
          suspended_at: new Date(),
          deletion_requested_at: new Date(),
          deletion_due_at: new Date(),
        })
        .where('id', '=', orgId)
        .execute(),
    );
    lookup.invalidateOrganization(orgId);
    expect(await lookup.activeMembership(orgId, ownerId)).toBeNull();
  });

  it('caches hits, shares concurrent loads, and a change is seen right after invalidate()', async () => {
    const { orgId } = await fx.orgWithOwner('lk');
    const u = await fx.member(orgId, { role: 'member' });
    const lookup = createMembershipLookup({ withTenant: countingWithTenant });
    loads = 0;
    await Promise.all([lookup.activeMembership(orgId, u), lookup.activeMembership(orgId, u)]);
    await lookup.activeMembership(orgId, u);
    expect(loads).toBe(1);
    await tenancy.withTenant(orgId, (db) =>
      db
        .updateTable('memberships')
        .set({ role: 'viewer' })
        .where('organization_id', '=', orgId)
        .where('user_id', '=', u)
        .execute(),
    );
    expect((await lookup.activeMembership(orgId, u))?.role).toBe('member'); // cached
    lookup.invalidate(orgId, u);
    expect((await lookup.activeMembership(orgId, u))?.role).toBe('viewer');
    expect(loads).toBe(2);
  });

  it('does not cache absence: a membership that appears is seen at once', async () => {
    const { orgId } = await fx.orgWithOwner('lk');
    const u = await fx.member(orgId, { status: 'pending' });
    const lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    expect(await lookup.activeMembership(orgId, u)).toBeNull();
    await tenancy.withTenant(orgId, (db) =>
      db
        .updateTable('memberships')
        .set({ status: 'active' })
        .where('organization_id', '=', orgId)
        .where('user_id', '=', u)
        .execute(),
    );
    expect(await lookup.activeMembership(orgId, u)).not.toBeNull();
  });

  it('a load in flight during invalidate() does not store its stale result', async () => {
    const { orgId } = await fx.orgWithOwner('lk');
    const u = await fx.member(orgId, { role: 'admin' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let slow = true;
    const lookup = createMembershipLookup({
      withTenant: async (tenantId, fn, opts) => {
        const result = await tenancy.withTenant(tenantId, fn, opts);
        if (slow) await gate;
        return result;
      },
    });
    const inFlight = lookup.activeMembership(orgId, u); // reads "admin", then waits
    await new Promise((r) => setTimeout(r, 50));
    await tenancy.withTenant(orgId, (db) =>
      db.deleteFrom('memberships').where('organization_id', '=', orgId).where('user_id', '=', u).execute(),
    );
    lookup.invalidate(orgId, u);
    release();
    expect((await inFlight)?.role).toBe('admin');
    slow = false;
    expect(await lookup.activeMembership(orgId, u)).toBeNull();
  });

  it('invalidateOrganization drops every member of that organization and nobody else', async () => {
    const a = await fx.orgWithOwner('lk');
    const b = await fx.orgWithOwner('lk');
    const lookup = createMembershipLookup({ withTenant: countingWithTenant });
    await lookup.activeMembership(a.orgId, a.ownerId);
    await lookup.activeMembership(b.orgId, b.ownerId);
    loads = 0;
    lookup.invalidateOrganization(a.orgId);
    await lookup.activeMembership(a.orgId, a.ownerId);
    await lookup.activeMembership(b.orgId, b.ownerId);
    expect(loads).toBe(1);
  });

  it('entries expire after the TTL', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('lk');
    const lookup = createMembershipLookup({ withTenant: countingWithTenant, ttlMs: 30 });
    loads = 0;
    await lookup.activeMembership(orgId, ownerId);
    await new Promise((r) => setTimeout(r, 60));
    await lookup.activeMembership(orgId, ownerId);
    expect(loads).toBe(2);
  });
});
