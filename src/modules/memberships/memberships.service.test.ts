import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { auditEvents } from '../../../test/support/audit.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createMembershipLookup, type MembershipLookup } from './membership-lookup.js';
import { createMembershipsService, type MembershipsService } from './memberships.service.js';
import { identityFixtures, userCtx } from './memberships.test-support.js';

const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', message: '' }),
    (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
  );

describe('memberships service', () => {
  let tenancy: Tenancy;
  let fx: ReturnType<typeof identityFixtures>;
  let lookup: MembershipLookup;
  let members: MembershipsService;

  beforeAll(() => {
    tenancy = createTestTenancy(6);
    fx = identityFixtures(tenancy);
    lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    members = createMembershipsService({ withTenant: tenancy.withTenant, lookup });
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('lists active and pending members by user id, paginated without gaps or repeats', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const made = [ownerId];
    for (let i = 0; i < 5; i++) made.push(await fx.member(orgId, { status: i % 2 ? 'pending' : 'active' }));
    const seen: { userId: string; status: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = await members.list(userCtx(orgId, ownerId), { limit: 2, cursor });
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.map((m) => m.userId)).toEqual([...made].sort());
    expect(seen.filter((m) => m.status === 'pending')).toHaveLength(2);
    await expect(members.list(userCtx(orgId, ownerId), { cursor: 'junk' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    });
  });

  it('changes a role, bumps permissions_version, and the lookup sees it on the next call', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const u = await fx.member(orgId, { role: 'member' });
    expect((await lookup.activeMembership(orgId, u))?.role).toBe('member');
    const changed = await members.changeRole(userCtx(orgId, ownerId), u, 'viewer');
    expect(changed).toMatchObject({ userId: u, role: 'viewer', status: 'active' });
    expect(await fx.membership(orgId, u)).toMatchObject({ role: 'viewer', permissions_version: 2 });
    expect(await lookup.activeMembership(orgId, u)).toMatchObject({ role: 'viewer', permissionsVersion: 2 });
    // The same role again is no change: no bump.
    await members.changeRole(userCtx(orgId, ownerId), u, 'viewer');
    expect((await fx.membership(orgId, u))?.permissions_version).toBe(2);
    // Audited once (the no-op wrote nothing), with the actor, the member and the role before/after.
    expect(await auditEvents(tenancy.withTenant, orgId)).toMatchObject([
      {
        action: 'member.role_changed',
        actor: { type: 'user', id: ownerId },
        target: { type: 'member', id: u },
        changes: { before: { role: 'member' }, after: { role: 'viewer' } },
      },
    ]);
  });

  it('nobody grants above their own permissions: an admin cannot grant owner or a billing role', async () => {
    const { orgId } = await fx.orgWithOwner('ml');
    const admin = await fx.member(orgId, { role: 'admin' });
    const u = await fx.member(orgId, { role: 'member' });
    await fx.role(orgId, 'billing_admin', ['org:read', 'billing:manage']);
    await fx.role(orgId, 'project_lead', ['org:read', 'projects:read', 'projects:create']);
    await expect(members.changeRole(userCtx(orgId, admin), u, 'owner')).rejects.toMatchObject({
      code: 'MEMBERSHIP_ESCALATION',
      status: 403,
      details: { missing: ['billing:manage', 'org:delete', 'org:export'] },
    });
    await expect(members.changeRole(userCtx(orgId, admin), u, 'billing_admin')).rejects.toMatchObject({
      code: 'MEMBERSHIP_ESCALATION',
      details: { missing: ['billing:manage'] },
    });
    await expect(members.changeRole(userCtx(orgId, admin), u, 'project_lead')).resolves.toMatchObject({
      role: 'project_lead',
    });
    await expect(members.changeRole(userCtx(orgId, admin), u, 'no_such_role')).rejects.toMatchObject({
      code: 'ROLE_UNKNOWN',
      status: 400,
    });
    expect((await fx.membership(orgId, u))?.role).toBe('project_lead');
  });

  it('nobody changes or removes someone whose role exceeds theirs', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const admin = await fx.member(orgId, { role: 'admin' });
    await fx.role(orgId, 'manager', ['org:read', 'members:read', 'members:update_role', 'members:remove']);
    const manager = await fx.member(orgId, { role: 'manager' });
    const viewer = await fx.member(orgId, { role: 'viewer' });
    await expect(members.changeRole(userCtx(orgId, admin), ownerId, 'member')).rejects.toMatchObject({
      code: 'MEMBERSHIP_OUTRANKED',
      status: 403,
    });
    await expect(members.remove(userCtx(orgId, admin), ownerId)).rejects.toMatchObject({
      code: 'MEMBERSHIP_OUTRANKED',
    });
    // A viewer holds projects:read, which the manager lacks: the manager cannot touch them.
    await expect(members.changeRole(userCtx(orgId, manager), viewer, 'manager')).rejects.toMatchObject({
      code: 'MEMBERSHIP_OUTRANKED',
      details: { missing: ['projects:read'] },
    });
    // An admin can change another admin and a member; an owner can change anyone.
    const admin2 = await fx.member(orgId, { role: 'admin' });
    await expect(members.changeRole(userCtx(orgId, admin), admin2, 'member')).resolves.toBeTruthy();
    await expect(members.changeRole(userCtx(orgId, ownerId), admin, 'member')).resolves.toBeTruthy();
  });

  it('the actor is read from the database in the transaction: missing permission, pending, or not a user', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const member = await fx.member(orgId, { role: 'member' });
    const pendingAdmin = await fx.member(orgId, { role: 'admin', status: 'pending' });
    await expect(members.changeRole(userCtx(orgId, member), ownerId, 'viewer')).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
      status: 403,
    });
    // A PENDING membership grants nothing, even the admin role.
    await expect(members.changeRole(userCtx(orgId, pendingAdmin), member, 'viewer')).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    await expect(members.list(userCtx(orgId, pendingAdmin))).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    await expect(members.leave(userCtx(orgId, pendingAdmin))).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    const system = { tenantId: orgId, actor: { kind: 'system' as const, name: 'x' }, requestId: 't' };
    await expect(members.remove(system, member)).rejects.toMatchObject({ code: 'MEMBERSHIP_FORBIDDEN' });
    expect((await fx.membership(orgId, member))?.role).toBe('member');
  });

  it('the last active owner cannot leave, be removed or be demoted; with a second owner they can', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const pendingOwner = await fx.member(orgId, { role: 'owner', status: 'pending' });
    const owner = userCtx(orgId, ownerId);
    for (const attempt of [
      () => members.leave(owner),
      () => members.remove(owner, ownerId),
      () => members.changeRole(owner, ownerId, 'admin'),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'MEMBERSHIP_LAST_OWNER', status: 409 });
    }
    // A pending owner does not count; an active second owner does.
    expect(pendingOwner).toBeTruthy();
    const second = await fx.member(orgId, { role: 'owner' });
    await members.changeRole(owner, ownerId, 'admin');
    await expect(members.remove(userCtx(orgId, second), second)).rejects.toMatchObject({
      code: 'MEMBERSHIP_LAST_OWNER',
    });
    await members.changeRole(userCtx(orgId, second), ownerId, 'owner');
    await members.leave(owner);
    expect(await fx.membership(orgId, ownerId)).toBeUndefined();
    // The refused attempts wrote nothing.
    expect(await auditEvents(tenancy.withTenant, orgId)).toMatchObject([
      { action: 'member.role_changed', actor: { id: ownerId }, target: { id: ownerId } },
      { action: 'member.role_changed', actor: { id: second }, target: { id: ownerId } },
      {
        action: 'member.left',
        actor: { type: 'user', id: ownerId },
        target: { type: 'member', id: ownerId },
      },
    ]);
    expect(await lookup.activeMembership(orgId, ownerId)).toBeNull();
  });

  it('two owners demoting each other at once: exactly one succeeds', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const second = await fx.member(orgId, { role: 'owner' });
    const results = await Promise.all([
      failure(members.changeRole(userCtx(orgId, ownerId), second, 'admin')),
      failure(members.changeRole(userCtx(orgId, second), ownerId, 'admin')),
    ]);
    expect(results.map((r) => r.code).sort()).toEqual(['MEMBERSHIP_OUTRANKED', 'resolved']);
    const roles = [(await fx.membership(orgId, ownerId))?.role, (await fx.membership(orgId, second))?.role];
    expect(roles.filter((r) => r === 'owner')).toHaveLength(1);
    // Only the change that committed was audited.
    expect((await auditEvents(tenancy.withTenant, orgId)).map((e) => e.action)).toEqual([
      'member.role_changed',
    ]);
  });

  it('removes members, pending ones included, and the removed member’s lookup goes at once', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const u = await fx.member(orgId);
    const p = await fx.member(orgId, { status: 'pending' });
    expect(await lookup.activeMembership(orgId, u)).not.toBeNull();
    await members.remove(userCtx(orgId, ownerId), u);
    await members.remove(userCtx(orgId, ownerId), p);
    expect(await lookup.activeMembership(orgId, u)).toBeNull();
    expect((await members.list(userCtx(orgId, ownerId))).data.map((m) => m.userId)).toEqual([ownerId]);
    expect(await auditEvents(tenancy.withTenant, orgId)).toMatchObject([
      {
        action: 'member.removed',
        actor: { id: ownerId },
        target: { type: 'member', id: u },
        metadata: { status: 'active' },
      },
      {
        action: 'member.removed',
        actor: { id: ownerId },
        target: { type: 'member', id: p },
        metadata: { status: 'pending' },
      },
    ]);
  });

  it('transfers ownership: target becomes owner, caller admin, both versions bumped', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('ml');
    const u = await fx.member(orgId, { role: 'member' });
    const pending = await fx.member(orgId, { status: 'pending' });
    const admin = await fx.member(orgId, { role: 'admin' });
    await lookup.activeMembership(orgId, ownerId);
    await expect(members.transferOwnership(userCtx(orgId, admin), u)).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    await expect(members.transferOwnership(userCtx(orgId, ownerId), pending)).rejects.toMatchObject({
      code: 'MEMBERSHIP_NOT_ACTIVE',
      status: 409,
    });
    await expect(members.transferOwnership(userCtx(orgId, ownerId), ownerId)).rejects.toMatchObject({
      code: 'MEMBERSHIP_TRANSFER_TO_SELF',
    });
    const r = await members.transferOwnership(userCtx(orgId, ownerId), u);
    expect(r.newOwner).toMatchObject({ userId: u, role: 'owner' });
    expect(r.previousOwner).toMatchObject({ userId: ownerId, role: 'admin' });
    expect(await fx.membership(orgId, u)).toMatchObject({ role: 'owner', permissions_version: 2 });
    expect(await fx.membership(orgId, ownerId)).toMatchObject({ role: 'admin', permissions_version: 2 });
    expect((await lookup.activeMembership(orgId, ownerId))?.role).toBe('admin');
    expect(await auditEvents(tenancy.withTenant, orgId)).toMatchObject([
      {
        action: 'ownership.transferred',
        actor: { type: 'user', id: ownerId },
        target: { type: 'member', id: u },
        changes: {
          before: { new_owner_role: 'member', previous_owner_role: 'owner' },
          after: { new_owner_role: 'owner', previous_owner_role: 'admin' },
        },
        metadata: { from: ownerId, to: u },
      },
    ]);
  });

  it('a user of another organization is not found, exactly like a missing one, everywhere', async () => {
    const a = await fx.orgWithOwner('ml');
    const b = await fx.orgWithOwner('ml');
    const bMember = await fx.member(b.orgId);
    const ctx = userCtx(a.orgId, a.ownerId);
    const cases: [string, (id: string) => Promise<unknown>][] = [
      ['changeRole', (id) => members.changeRole(ctx, id, 'viewer')],
      ['remove', (id) => members.remove(ctx, id)],
      ['transferOwnership', (id) => members.transferOwnership(ctx, id)],
    ];
    for (const [name, call] of cases) {
      const missing = await failure(call(uuidv7()));
      expect({ name, code: missing.code }).toEqual({ name, code: 'MEMBER_NOT_FOUND' });
      expect(await failure(call(bMember))).toEqual(missing);
      expect(await failure(call(b.ownerId))).toEqual(missing);
      expect(await failure(call('not-a-uuid'))).toEqual(missing);
    }
    expect(await fx.membership(b.orgId, bMember)).toMatchObject({ role: 'member', permissions_version: 1 });
    // Acting in org B with an org A membership finds no actor.
    await expect(members.list(userCtx(b.orgId, a.ownerId))).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
  });
});
