import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTenancy } from '../../../test/support/tenancy.js';
import { auditEvents } from '../../../test/support/audit.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createMembershipLookup, type MembershipLookup } from '../memberships/membership-lookup.js';
import { identityFixtures, userCtx } from '../memberships/memberships.test-support.js';
import { createBareOrganization } from './organization-records.js';
import {
  createOrganizationsService,
  type OrganizationsService,
  type UserCtx,
} from './organizations.service.js';

const slug = (p = 'o') => `${p}-${randomBytes(5).toString('hex')}`;

describe('organizations service', () => {
  let tenancy: Tenancy;
  let fx: ReturnType<typeof identityFixtures>;
  let lookup: MembershipLookup;
  let orgs: OrganizationsService;
  const as = (userId: string): UserCtx => ({ userId, requestId: 'test' });

  beforeAll(() => {
    tenancy = createTestTenancy(6);
    fx = identityFixtures(tenancy);
    lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
    orgs = createOrganizationsService({
      withTenant: tenancy.withTenant,
      privileged: tenancy.privileged,
      invalidateOrganization: (id) => lookup.invalidateOrganization(id),
    });
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('creates an organization with its owner; a taken or invalid slug is refused', async () => {
    const u = await fx.user();
    const s = slug();
    const { organization, replayed } = await orgs.create(as(u), { slug: s.toUpperCase(), name: 'Acme' });
    expect(replayed).toBe(false);
    expect(organization).toMatchObject({ slug: s, name: 'Acme', personal: false, settings: {} });
    expect(await lookup.activeMembership(organization.id, u)).toMatchObject({ role: 'owner' });
    expect(await auditEvents(tenancy.withTenant, organization.id)).toMatchObject([
      {
        action: 'organization.created',
        actor: { type: 'user', id: u },
        target: { type: 'organization', id: organization.id },
        requestId: 'test',
        metadata: { slug: s, name: 'Acme', personal: false, owner: u },
      },
    ]);
    await expect(orgs.create(as(u), { slug: s, name: 'Again' })).rejects.toMatchObject({
      code: 'ORGANIZATION_SLUG_TAKEN',
      status: 409,
    });
    await expect(orgs.create(as(u), { slug: '-bad-', name: 'x' })).rejects.toMatchObject({
      code: 'ORGANIZATION_SLUG_INVALID',
      status: 400,
    });
  });

  it('an idempotency key replays the first create, refuses a different request, and is per user', async () => {
    const u = await fx.user();
    const key = `k-${uuidv7()}`;
    const s = slug('idem');
    const first = await orgs.create(as(u), { slug: s, name: 'Idem' }, { idempotencyKey: key });
    const again = await orgs.create(as(u), { slug: s, name: 'Idem' }, { idempotencyKey: key });
    expect(again).toEqual({ organization: first.organization, replayed: true });
    // The replay wrote nothing: one organization.created only.
    expect((await auditEvents(tenancy.withTenant, first.organization.id)).map((e) => e.action)).toEqual([
      'organization.created',
    ]);
    await expect(
      orgs.create(as(u), { slug: slug('other'), name: 'Other' }, { idempotencyKey: key }),
    ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', status: 422 });
    // Another user with the same key makes another request (and meets the slug as taken).
    const v = await fx.user();
    await expect(
      orgs.create(as(v), { slug: s, name: 'Idem' }, { idempotencyKey: key }),
    ).rejects.toMatchObject({
      code: 'ORGANIZATION_SLUG_TAKEN',
    });
    // A failed keyed create leaves nothing behind: the key then works.
    const ok = await orgs.create(as(v), { slug: slug('v'), name: 'V' }, { idempotencyKey: key });
    expect(ok.replayed).toBe(false);
  });

  it('concurrent retries with one key create exactly one organization', async () => {
    const u = await fx.user();
    const key = `k-${uuidv7()}`;
    const s = slug('conc');
    const results = await Promise.all(
      Array.from({ length: 6 }, () => orgs.create(as(u), { slug: s, name: 'C' }, { idempotencyKey: key })),
    );
    expect(new Set(results.map((r) => r.organization.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
  });

  it('gets and updates the current organization; settings are an object replaced as a whole', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('up');
    const ctx = userCtx(orgId, ownerId);
    expect((await orgs.get(ctx)).id).toBe(orgId);
    const s = slug('renamed');
    const updated = await orgs.update(ctx, { name: 'Renamed', slug: s, settings: { theme: 'dark', n: 1 } });
    expect(updated).toMatchObject({ name: 'Renamed', slug: s, settings: { theme: 'dark', n: 1 } });
    expect((await orgs.update(ctx, { settings: { a: [1] } })).settings).toEqual({ a: [1] });
    const taken = (await fx.orgWithOwner('tk')).orgId;
    const takenSlug = (await orgs.get(userCtx(taken, ownerId))).slug;
    await expect(orgs.update(ctx, { slug: takenSlug })).rejects.toMatchObject({
      code: 'ORGANIZATION_SLUG_TAKEN',
    });
    await expect(orgs.update(ctx, { settings: { big: 'x'.repeat(20_000) } })).rejects.toMatchObject({
      code: 'ORGANIZATION_SETTINGS_INVALID',
    });
    const viewer = await fx.member(orgId, { role: 'viewer' });
    await expect(orgs.update(userCtx(orgId, viewer), { name: 'nope' })).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    // Two updates audited with only the changed fields (settings key by key); the refused ones wrote nothing.
    const events = await auditEvents(tenancy.withTenant, orgId);
    expect(events.map((e) => e.action)).toEqual(['organization.updated', 'organization.updated']);
    expect(events[0]).toMatchObject({
      actor: { type: 'user', id: ownerId },
      target: { type: 'organization', id: orgId },
      changes: {
        before: {
          name: expect.any(String) as string,
          slug: expect.any(String) as string,
          settings: { theme: null, n: null },
        },
        after: { name: 'Renamed', slug: s, settings: { theme: 'dark', n: 1 } },
      },
    });
    expect(events[1]!.changes).toEqual({
      before: { settings: { theme: 'dark', n: 1, a: null } },
      after: { settings: { theme: null, n: null, a: [1] } },
    });
  });

  it('lists my organizations with my role, by name, paginated; pending and other users’ are absent', async () => {
    const u = await fx.user();
    const names = ['Delta', 'alpha', 'Charlie', 'Bravo', 'Echo'];
    const ids: string[] = [];
    for (const name of names) ids.push((await orgs.create(as(u), { slug: slug(), name })).organization.id);
    const asViewer = await fx.orgWithOwner('lv');
    await fx.member(asViewer.orgId, { userId: u, role: 'viewer' });
    const pendingOrg = await fx.orgWithOwner('lp');
    await fx.member(pendingOrg.orgId, { userId: u, status: 'pending' });
    const seen: { id: string; role: string; name: string }[] = [];
    const proof = await fx.session(u);
    let cursor: string | undefined;
    do {
      const page = await orgs.listMine(u, proof, { limit: 2, cursor });
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toHaveLength(6);
    expect(new Set(seen.map((o) => o.id)).size).toBe(6);
    expect(seen.find((o) => o.id === asViewer.orgId)?.role).toBe('viewer');
    expect(seen.filter((o) => ids.includes(o.id)).every((o) => o.role === 'owner')).toBe(true);
    expect(seen.map((o) => o.id)).not.toContain(pendingOrg.orgId);
    await expect(orgs.listMine(u, proof, { cursor: 'garbage' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
    });
    expect(await orgs.listMine('not-a-uuid', proof)).toEqual({ data: [], nextCursor: null });
  });

  it('requestDeletion: owner only; schedules the deletion, members keep reading, cancelDeletion undoes it', async () => {
    const { orgId, ownerId } = await fx.orgWithOwner('del');
    const proof = await fx.session(ownerId);
    const admin = await fx.member(orgId, { role: 'admin' });
    expect(await lookup.activeMembership(orgId, admin)).not.toBeNull();
    await expect(orgs.requestDeletion(userCtx(orgId, admin))).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    await expect(orgs.cancelDeletion(userCtx(orgId, ownerId))).rejects.toMatchObject({
      code: 'ORGANIZATION_NOT_PENDING_DELETION',
    });
    const before = Date.now();
    const marked = await orgs.requestDeletion(userCtx(orgId, ownerId));
    expect(marked.lifecycleState).toBe('pending_deletion');
    const due = Date.parse(marked.deletionDueAt!);
    expect(due - before).toBeGreaterThanOrEqual(30 * 86_400_000 - 1000);
    expect(due - before).toBeLessThan(30 * 86_400_000 + 60_000);
    // A repeated request changes nothing and records nothing.
    expect((await orgs.requestDeletion(userCtx(orgId, ownerId))).deletionDueAt).toBe(marked.deletionDueAt);
    // Pending deletion: still listed, still a member (the tenant path keeps it read-only).
    expect((await orgs.listMine(ownerId, proof)).data.map((o) => o.id)).toContain(orgId);
    expect(await lookup.activeMembership(orgId, admin)).not.toBeNull();
    await expect(orgs.cancelDeletion(userCtx(orgId, admin))).rejects.toMatchObject({
      code: 'MEMBERSHIP_FORBIDDEN',
    });
    const cancelled = await orgs.cancelDeletion(userCtx(orgId, ownerId));
    expect(cancelled).toMatchObject({
      lifecycleState: 'active',
      deletionDueAt: null,
      deletionRequestedAt: null,
    });
    expect(await auditEvents(tenancy.withTenant, orgId)).toMatchObject([
      {
        action: 'organization.deletion_scheduled',
        actor: { type: 'user', id: ownerId },
        target: { type: 'organization', id: orgId },
        changes: {
          before: { lifecycle_state: 'active', deletion_due_at: null },
          after: { lifecycle_state: 'pending_deletion', deletion_due_at: marked.deletionDueAt },
        },
      },
      {
        action: 'organization.deletion_cancelled',
        actor: { type: 'user', id: ownerId },
        changes: {
          before: { lifecycle_state: 'pending_deletion', deletion_due_at: marked.deletionDueAt },
          after: { lifecycle_state: 'active', deletion_due_at: null },
        },
      },
    ]);
  });

  it('createBareOrganization makes an organization with no members', async () => {
    const org = await createBareOrganization(tenancy.withTenant, { slug: slug('bare'), name: 'Bare' });
    const count = await tenancy.withTenant(org.id, (db) =>
      db.selectFrom('memberships').select('user_id').where('organization_id', '=', org.id).execute(),
    );
    expect(count).toHaveLength(0);
  });
});
