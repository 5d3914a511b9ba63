import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { auditEvents } from '../../../test/support/audit.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createMembershipLookup, type MembershipLookup } from './membership-lookup.js';
import { createMembershipsService, type MembershipsService } from './memberships.service.js';
import { identityFixtures, userCtx } from './memberships.test-support.js';
import { createRolesService, type RolesService } from './roles.service.js';

describe('roles service', () => {
  let tenancy: Tenancy;
  let fx: ReturnType<typeof identityFixtures>;
  let lookup: MembershipLookup;
  let roles: RolesService;
  let members: MembershipsService;

  beforeAll(() => {
    tenancy = createTestTenancy(4);
    fx = identityFixtures(tenancy);
    lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    roles = createRolesService({ withTenant: tenancy.withTenant, lookup });
    members = createMembershipsService({ withTenant: tenancy.withTenant, lookup });
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('creates, lists, updates and deletes a custom role; permissions are deduplicated and ordered', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rl');
    const ctx = userCtx(orgId, ownerId);
    const role = await roles.create(ctx, {
      key: 'support',
      name: 'Support',
      permissions: ['projects:read', 'org:read', 'projects:read'],
    });
    expect(role).toMatchObject({
      key: 'support',
      permissions: ['org:read', 'projects:read'],
      builtIn: false,
    });
    const updated = await roles.update(ctx, 'support', { name: 'Support desk', permissions: ['org:read'] });
    expect(updated).toMatchObject({ name: 'Support desk', permissions: ['org:read'] });
    const all = await roles.list(ctx);
    expect(all.data.map((r) => r.key)).toEqual(['owner', 'admin', 'member', 'viewer', 'support']);
    await roles.remove(ctx, 'support');
    await expect(roles.update(ctx, 'support', { name: 'x' })).rejects.toMatchObject({
      code: 'ROLE_NOT_FOUND',
      status: 404,
    });
    expect(await auditEvents(tenancy.withTenant, orgId)).toMatchObject([
      {
        action: 'role.created',
        actor: { type: 'user', id: ownerId },
        target: { type: 'role', id: 'support' },
        metadata: { name: 'Support', permissions: ['org:read', 'projects:read'] },
      },
      {
        action: 'role.updated',
        target: { type: 'role', id: 'support' },
        changes: {
          before: { name: 'Support', permissions: ['org:read', 'projects:read'] },
          after: { name: 'Support desk', permissions: ['org:read'] },
        },
      },
      { action: 'role.deleted', target: { type: 'role', id: 'support' }, metadata: { name: 'Support desk' } },
    ]);
  });

  it('paginates built-in then custom roles without gaps or repeats', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rl');
    for (const k of ['r_c', 'r_a', 'r_e', 'r_b', 'r_d']) await fx.role(orgId, k, ['org:read']);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await roles.list(userCtx(orgId, ownerId), { limit: 3, cursor });
      seen.push(...page.data.map((r) => r.key));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['owner', 'admin', 'member', 'viewer', 'r_a', 'r_b', 'r_c', 'r_d', 'r_e']);
  });

  it('refuses a key that shadows a built-in role, a taken key, a malformed key, unknown permissions', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rl');
    const ctx = userCtx(orgId, ownerId);
    await expect(roles.create(ctx, { key: 'admin', name: 'A', permissions: [] })).rejects.toMatchObject({
      code: 'ROLE_KEY_RESERVED',
      status: 409,
    });
    await roles.create(ctx, { key: 'ops', name: 'Ops', permissions: ['org:read'] });
    await expect(roles.create(ctx, { key: 'ops', name: 'Ops', permissions: [] })).rejects.toMatchObject({
      code: 'ROLE_KEY_TAKEN',
      status: 409,
    });
    await expect(roles.create(ctx, { key: 'Bad Key', name: 'B', permissions: [] })).rejects.toMatchObject({
      code: 'ROLE_KEY_INVALID',
      status: 400,
    });
    await expect(
      roles.create(ctx, { key: 'weird', name: 'W', permissions: ['org:read', 'root:everything'] }),
    ).rejects.toMatchObject({ code: 'ROLE_PERMISSIONS_INVALID', details: { invalid: ['root:everything'] } });
    await expect(roles.update(ctx, 'owner', { name: 'Boss' })).rejects.toMatchObject({
      code: 'ROLE_KEY_RESERVED',
    });
    await expect(roles.remove(ctx, 'viewer')).rejects.toMatchObject({ code: 'ROLE_KEY_RESERVED' });
  });

  it('nobody creates or edits a role beyond their own permissions', async () => {
    const { orgId } = await fx.orgWithOwner('rl');
    const admin = await fx.member(orgId, { role: 'admin' });
    const ctx = userCtx(orgId, admin);
    await expect(
      roles.create(ctx, { key: 'biller', name: 'B', permissions: ['org:read', 'billing:manage'] }),
    ).rejects.toMatchObject({ code: 'MEMBERSHIP_ESCALATION', details: { missing: ['billing:manage'] } });
    await fx.role(orgId, 'treasurer', ['billing:manage']);
    await expect(roles.update(ctx, 'treasurer', { name: 'T' })).rejects.toMatchObject({
      code: 'MEMBERSHIP_OUTRANKED',
    });
    await expect(roles.remove(ctx, 'treasurer')).rejects.toMatchObject({ code: 'MEMBERSHIP_OUTRANKED' });
    await roles.create(ctx, { key: 'helper', name: 'H', permissions: ['org:read'] });
    await expect(roles.update(ctx, 'helper', { permissions: ['org:delete'] })).rejects.toMatchObject({
      code: 'MEMBERSHIP_ESCALATION',
    });
    const viewer = await fx.member(orgId, { role: 'viewer' });
    await expect(
      roles.create(userCtx(orgId, viewer), { key: 'v2', name: 'V', permissions: [] }),
    ).rejects.toMatchObject({ code: 'MEMBERSHIP_FORBIDDEN' });
  });

  it('editing a role takes effect for its holders on the next lookup and bumps their versions', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rl');
    const ctx = userCtx(orgId, ownerId);
    await roles.create(ctx, { key: 'editor', name: 'Editor', permissions: ['org:read', 'projects:update'] });
    const u = await fx.member(orgId, { role: 'editor' });
    expect((await lookup.activeMembership(orgId, u))?.permissions.has('projects:update')).toBe(true);
    await roles.update(ctx, 'editor', { permissions: ['org:read'] });
    const after = await lookup.activeMembership(orgId, u);
    expect(after?.permissions).toEqual(new Set(['org:read']));
    expect(after?.permissionsVersion).toBe(2);
    // A rename changes no permission: no bump.
    await roles.update(ctx, 'editor', { name: 'Editors' });
    expect((await fx.membership(orgId, u))?.permissions_version).toBe(2);
  });

  it('a role held by anyone (pending included) cannot be deleted; once free it can', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('rl');
    const ctx = userCtx(orgId, ownerId);
    await roles.create(ctx, { key: 'temp', name: 'Temp', permissions: ['org:read'] });
    const u = await fx.member(orgId, { role: 'temp', status: 'pending' });
    await expect(roles.remove(ctx, 'temp')).rejects.toMatchObject({ code: 'ROLE_IN_USE', status: 409 });
    await members.changeRole(ctx, u, 'viewer');
    await roles.remove(ctx, 'temp');
    await expect(members.changeRole(ctx, u, 'temp')).rejects.toMatchObject({ code: 'ROLE_UNKNOWN' });
  });

  it('another organization’s custom role is not found, exactly like a missing one', async () => {
    const a = await fx.orgWithOwner('rl');
    const b = await fx.orgWithOwner('rl');
    await fx.role(b.orgId, 'secret_role', ['org:read']);
    const ctx = userCtx(a.orgId, a.ownerId);
    const err = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
      );
    for (const call of [
      (k: string) => roles.update(ctx, k, { name: 'x' }),
      (k: string) => roles.remove(ctx, k),
    ]) {
      const missing = await err(call('never_was'));
      expect(missing?.code).toBe('ROLE_NOT_FOUND');
      expect(await err(call('secret_role'))).toEqual(missing);
      expect(await err(call('../Bad'))).toEqual(missing);
    }
    const u = await fx.member(a.orgId);
    await expect(members.changeRole(ctx, u, 'secret_role')).rejects.toMatchObject({ code: 'ROLE_UNKNOWN' });
    expect((await roles.list(ctx)).data.map((r) => r.key)).not.toContain('secret_role');
  });
});
