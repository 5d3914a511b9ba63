import { recordAudit } from '../../platform/audit/record.js';
import { builtInRoles, isBuiltInRole } from '../../platform/authz/roles.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import * as members from '../memberships/memberships.repository.js';

/** The role a provisioned member gets when no mapped group says otherwise. */
export const DEFAULT_ROLE = 'member';

/** A role a group may map to: a built-in role other than owner (ownership is never given by a directory). */
export const isMappableRole = (role: string): boolean => isBuiltInRole(role) && role !== 'owner';

const rank = (role: string) => (isBuiltInRole(role) ? builtInRoles[role].length : 0);

/**
 * The role the directory gives a user: the highest role (most permissions) among the mapped groups they
 * are in; `member` when the organization maps groups but none of theirs; undefined when it maps none
 * (roles are then the administrators' to set).
 */
export async function mappedRole(db: TenantDb, orgId: string, userId: string): Promise<string | undefined> {
  const rows = await db
    .selectFrom('scim_groups as g')
    .leftJoin('scim_group_members as m', (j) =>
      j
        .onRef('m.organization_id', '=', 'g.organization_id')
        .onRef('m.group_id', '=', 'g.id')
        .on('m.user_id', '=', userId),
    )
    .select(['g.role', 'm.user_id'])
    .where('g.organization_id', '=', orgId)
    .where('g.role', 'is not', null)
    .execute();
  if (rows.length === 0) return undefined;
  const mine = rows.filter((r) => r.user_id !== null).map((r) => r.role!);
  return mine.sort((a, b) => rank(b) - rank(a))[0] ?? DEFAULT_ROLE;
}

/**
 * Gives each ACTIVE member among `userIds` the role their groups map to (owners are never changed), with
 * a `member.role_changed` audit event per change; returns the users whose role changed (their membership
 * lookups must be invalidated once committed). Runs under the organization lock.
 */
export async function applyMappedRoles(
  ctx: TenantCtx,
  db: TenantDb,
  userIds: Iterable<string>,
): Promise<string[]> {
  const changed: string[] = [];
  for (const userId of new Set(userIds)) {
    const access = await members.findAccess(db, ctx.tenantId, userId);
    if (!access || access.status !== 'active' || access.role === 'owner') continue;
    const role = await mappedRole(db, ctx.tenantId, userId);
    if (role === undefined || role === access.role) continue;
    await members.setRole(db, ctx.tenantId, userId, role);
    await recordAudit(db, ctx, {
      action: 'member.role_changed',
      target: { type: 'member', id: userId },
      changes: { before: { role: access.role }, after: { role } },
      metadata: { source: 'scim_group_mapping' },
    });
    changed.push(userId);
  }
  return changed;
}
