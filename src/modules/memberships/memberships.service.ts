import type { Permission } from '../../platform/authz/permissions.js';
import { builtInRoles, isBuiltInRole } from '../../platform/authz/roles.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { decodeCursor, toPage, type Page, pageLimit } from '../../platform/pagination.js';
import { loadActor, type Actor } from './actor.js';
import type { MembershipLookup } from './membership-lookup.js';
import * as repo from './memberships.repository.js';
import { lastOwner, memberNotFound, MembershipsError } from './memberships.errors.js';
import { findCustomRole } from './roles.repository.js';
import { covers, missingPermissions, permissionsOf, ROLE_KEY_RE } from './role-permissions.js';

/** A member as the API shows it. Pending members are listed but hold no permission. */
export interface Member {
  userId: string;
  email: string;
  role: string;
  status: 'pending' | 'active';
  createdAt: string;
  updatedAt: string;
}

export interface MembershipsService {
  /** Members (active and pending) by user id, cursor-paginated. Needs `members:read`. */
  list(ctx: TenantCtx, opts?: { limit?: number; cursor?: string }): Promise<Page<Member>>;
  /**
   * Gives a member another role (built-in or custom). Needs `members:update_role`; refused when the
   * member's current role exceeds the caller's permissions (MEMBERSHIP_OUTRANKED), when the new role
   * does (MEMBERSHIP_ESCALATION), and when it would leave no active owner (MEMBERSHIP_LAST_OWNER).
   * Audited `member.role_changed` (before/after role) when the role actually changes.
   */
  changeRole(ctx: TenantCtx, userId: string, role: string): Promise<Member>;
  /**
   * Removes a member (active or pending). Needs `members:remove`; same outrank and last-owner rules.
   * Audited `member.removed`.
   */
  remove(ctx: TenantCtx, userId: string): Promise<void>;
  /** The caller leaves the organization; the last active owner cannot. Audited `member.left`. */
  leave(ctx: TenantCtx): Promise<void>;
  /**
   * Owner only: makes an ACTIVE member owner and the caller admin, in one transaction.
   * MEMBERSHIP_NOT_ACTIVE for a pending member, MEMBERSHIP_TRANSFER_TO_SELF for the caller.
   * Audited `ownership.transferred` (both members' roles before/after).
   */
  transferOwnership(ctx: TenantCtx, userId: string): Promise<{ newOwner: Member; previousOwner: Member }>;
}

const toMember = (r: repo.MemberRow): Member => ({
  userId: r.user_id,
  email: r.email,
  role: r.role,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** The permissions a role key would grant in this organization; ROLE_UNKNOWN when there is no such role. */
async function grantedBy(db: TenantDb, orgId: string, role: string): Promise<ReadonlySet<Permission>> {
  if (isBuiltInRole(role)) return new Set<Permission>(builtInRoles[role]);
  // Share-locked: a concurrent delete of the role waits for this assignment and then sees its holder.
  const custom = ROLE_KEY_RE.test(role)
    ? await findCustomRole(db, orgId, role, { lock: 'share' })
    : undefined;
  if (!custom) throw new MembershipsError('ROLE_UNKNOWN', `role "${role}" does not exist`);
  return permissionsOf(role, custom.permissions);
}

/** The target member, who must not hold more than the caller. */
async function outrankable(db: TenantDb, orgId: string, actor: Actor, userId: string) {
  const target = await repo.findAccess(db, orgId, userId);
  if (!target) throw memberNotFound();
  const current = permissionsOf(target.role, target.custom_permissions);
  if (!covers(actor.permissions, current)) {
    throw new MembershipsError('MEMBERSHIP_OUTRANKED', 'this member’s role exceeds your own permissions', {
      missing: missingPermissions(actor.permissions, current),
    });
  }
  return target;
}

async function refuseLastOwner(db: TenantDb, orgId: string, m: { role: string; status: string }) {
  if (m.role === 'owner' && m.status === 'active' && (await repo.countActiveOwners(db, orgId)) <= 1) {
    throw lastOwner();
  }
}

async function member(db: TenantDb, orgId: string, userId: string): Promise<Member> {
  const row = await repo.findMember(db, orgId, userId);
  if (!row) throw memberNotFound();
  return toMember(row);
}

/**
 * Members of an organization. Every change locks the organization row first (changes are serialized
 * per organization), reads the caller's own membership in the same transaction, bumps the changed
 * memberships' permissions_version, and invalidates their cached lookups once committed.
 */
export function createMembershipsService(deps: {
  withTenant: WithTenant;
  lookup: Pick<MembershipLookup, 'invalidate'>;
}): MembershipsService {
  const { withTenant, lookup } = deps;

  /** Runs a change and invalidates the given users' lookups afterwards, whatever the outcome. */
  async function change<T>(ctx: TenantCtx, userIds: string[], fn: (db: TenantDb) => Promise<T>) {
    try {
      return await withTenant(ctx.tenantId, async (db) => {
        await repo.lockOrganization(db, ctx.tenantId);
        return fn(db);
      });
    } finally {
      for (const id of userIds) lookup.invalidate(ctx.tenantId, id);
    }
  }

  return {
    async list(ctx, opts) {
      const limit = pageLimit(opts?.limit);
      const after = decodeCursor(opts?.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        async (db) => {
          await loadActor(db, ctx, 'members:read');
          return repo.listMembers(db, ctx.tenantId, { after, limit: limit + 1 });
        },
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.user_id, toMember);
    },

    async changeRole(ctx, userId, role) {
      if (!isTenantId(userId)) throw memberNotFound();
      return change(ctx, [userId], async (db) => {
        const actor = await loadActor(db, ctx, 'members:update_role');
        const target = await outrankable(db, ctx.tenantId, actor, userId);
        const granted = await grantedBy(db, ctx.tenantId, role);
        if (!covers(actor.permissions, granted)) {
          throw new MembershipsError(
            'MEMBERSHIP_ESCALATION',
            'you cannot grant a role beyond your own permissions',
            {
              missing: missingPermissions(actor.permissions, granted),
            },
          );
        }
        if (target.role !== role) {
          await refuseLastOwner(db, ctx.tenantId, target);
          await repo.setRole(db, ctx.tenantId, userId, role);
          await recordAudit(db, ctx, {
            action: 'member.role_changed',
            target: { type: 'member', id: userId },
            changes: { before: { role: target.role }, after: { role } },
          });
        }
        return member(db, ctx.tenantId, userId);
      });
    },

    async remove(ctx, userId) {
      if (!isTenantId(userId)) throw memberNotFound();
      await change(ctx, [userId], async (db) => {
        const actor = await loadActor(db, ctx, 'members:remove');
        const target = await outrankable(db, ctx.tenantId, actor, userId);
        await refuseLastOwner(db, ctx.tenantId, target);
        await repo.deleteMembership(db, ctx.tenantId, userId);
        await recordAudit(db, ctx, {
          action: 'member.removed',
          target: { type: 'member', id: userId },
          metadata: { role: target.role, status: target.status },
        });
      });
    },

    async leave(ctx) {
      const self = ctx.actor.kind === 'user' ? [ctx.actor.userId] : [];
      await change(ctx, self, async (db) => {
        const actor = await loadActor(db, ctx, null);
        await refuseLastOwner(db, ctx.tenantId, { role: actor.role, status: 'active' });
        await repo.deleteMembership(db, ctx.tenantId, actor.userId);
        await recordAudit(db, ctx, {
          action: 'member.left',
          target: { type: 'member', id: actor.userId },
          metadata: { role: actor.role },
        });
      });
    },

    async transferOwnership(ctx, userId) {
      if (!isTenantId(userId)) throw memberNotFound();
      const self = ctx.actor.kind === 'user' ? [ctx.actor.userId] : [];
      return change(ctx, [userId, ...self], async (db) => {
        const actor = await loadActor(db, ctx, null);
        if (actor.role !== 'owner') {
          throw new MembershipsError('MEMBERSHIP_FORBIDDEN', 'only an owner can transfer ownership');
        }
        const target = await repo.findAccess(db, ctx.tenantId, userId);
        if (!target) throw memberNotFound();
        if (userId === actor.userId) {
          throw new MembershipsError('MEMBERSHIP_TRANSFER_TO_SELF', 'you are already an owner');
        }
        if (target.status !== 'active') {
          throw new MembershipsError('MEMBERSHIP_NOT_ACTIVE', 'ownership can only go to an active member');
        }
        if (target.role !== 'owner') await repo.setRole(db, ctx.tenantId, userId, 'owner');
        await repo.setRole(db, ctx.tenantId, actor.userId, 'admin');
        await recordAudit(db, ctx, {
          action: 'ownership.transferred',
          target: { type: 'member', id: userId },
          changes: {
            before: { new_owner_role: target.role, previous_owner_role: actor.role },
            after: { new_owner_role: 'owner', previous_owner_role: 'admin' },
          },
          metadata: { from: actor.userId, to: userId },
        });
        return {
          newOwner: await member(db, ctx.tenantId, userId),
          previousOwner: await member(db, ctx.tenantId, actor.userId),
        };
      });
    },
  };
}
