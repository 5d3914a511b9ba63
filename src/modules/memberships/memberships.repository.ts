import { isBuiltInRole } from '../../platform/authz/roles.js';
import { precompiled } from '../../platform/db/precompiled.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard. `users` is a global table without RLS: it is only ever joined
// through a membership of the current organization, so no other organization's user is reachable.

/** A membership with its user's email. */
export interface MemberRow {
  user_id: string;
  email: string;
  role: string;
  status: 'pending' | 'active';
  permissions_version: number;
  created_at: Date;
  updated_at: Date;
}

/** What deciding a user's access in an organization needs: the membership, the organization's state
 *  and the permissions of the membership's role if it is a custom one. */
export interface AccessRow {
  role: string;
  status: 'pending' | 'active';
  permissions_version: number;
  /** `deletion` while the organization's hard delete runs (nobody enters it any more). */
  suspension_reason: 'admin' | 'billing' | 'deletion' | null;
  custom_permissions: string[] | null;
}

/**
 * Locks the organization row (FOR NO KEY UPDATE, which does not block inserts referencing it). Every
 * change to memberships or roles takes it first, so those changes are serialized per organization and
 * the "last owner" and "does not exceed" checks read a state no concurrent change can invalidate.
 * False when the organization is not visible (it always is inside its own scope).
 */
export async function lockOrganization(db: TenantDb, orgId: string): Promise<boolean> {
  const row = await db
    .selectFrom('organizations')
    .select('id')
    .where('id', '=', orgId)
    .forNoKeyUpdate()
    .executeTakeFirst();
  return row !== undefined;
}

/** `findAccess`'s statements, compiled once: the membership lookup of the request path loads with them on
 *  every cache miss, and every membership change reads them. Two, not one join: the membership and the
 *  organization are directory tables and the role a placed one, on different databases for an
 *  organization placed in a tenant database (a statement naming both is refused there). */
const accessOf = precompiled((db: TenantDb, p: { orgId: string; userId: string }) =>
  db
    .selectFrom('memberships as m')
    .innerJoin('organizations as o', 'o.id', 'm.organization_id')
    .select(['m.role', 'm.status', 'm.permissions_version', 'o.suspension_reason'])
    .where('m.organization_id', '=', p.orgId)
    .where('o.id', '=', p.orgId)
    .where('m.user_id', '=', p.userId),
);
const customPermissionsOf = precompiled((db: TenantDb, p: { orgId: string; role: string }) =>
  db
    .selectFrom('roles')
    .select('permissions')
    .where('organization_id', '=', p.orgId)
    .where('key', '=', p.role),
);

/** One user's membership in the organization, with what resolving its permissions needs (a built-in
 *  role's permissions are fixed: no custom role can have its key, so none is looked up). */
export async function findAccess(
  db: TenantDb,
  orgId: string,
  userId: string,
): Promise<AccessRow | undefined> {
  const row = (await accessOf(db, { orgId, userId })).rows[0];
  if (row === undefined) return undefined;
  const custom = isBuiltInRole(row.role)
    ? undefined
    : (await customPermissionsOf(db, { orgId, role: row.role })).rows[0];
  return { ...row, custom_permissions: custom?.permissions ?? null };
}

/** Inserts a membership (the user row must exist). */
export async function insertMembership(
  db: TenantDb,
  row: { organization_id: string; user_id: string; role: string; status: 'pending' | 'active' },
): Promise<void> {
  await db.insertInto('memberships').values(row).execute();
}

const memberColumns = [
  'm.user_id',
  'u.email',
  'm.role',
  'm.status',
  'm.permissions_version',
  'm.created_at',
  'm.updated_at',
] as const;

/** One member of the organization, or undefined. */
export function findMember(db: TenantDb, orgId: string, userId: string): Promise<MemberRow | undefined> {
  return db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(memberColumns)
    .where('m.organization_id', '=', orgId)
    .where('m.user_id', '=', userId)
    .executeTakeFirst();
}

/** Members (active and pending) by user id, strictly after `after` when given. */
export function listMembers(
  db: TenantDb,
  orgId: string,
  opts: { after?: string; limit: number },
): Promise<MemberRow[]> {
  let q = db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(memberColumns)
    .where('m.organization_id', '=', orgId);
  if (opts.after) q = q.where('m.user_id', '>', opts.after);
  return q.orderBy('m.user_id').limit(opts.limit).execute();
}

/** Sets the role and bumps permissions_version. */
export async function setRole(db: TenantDb, orgId: string, userId: string, role: string): Promise<void> {
  await db
    .updateTable('memberships')
    .set((eb) => ({
      role,
      permissions_version: eb('permissions_version', '+', 1),
      updated_at: new Date(),
    }))
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .execute();
}

/** Deletes a membership; true when one was deleted. */
export async function deleteMembership(db: TenantDb, orgId: string, userId: string): Promise<boolean> {
  const res = await db
    .deleteFrom('memberships')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/** How many ACTIVE owners the organization has. */
export async function countActiveOwners(db: TenantDb, orgId: string): Promise<number> {
  const r = await db
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('organization_id', '=', orgId)
    .where('role', '=', 'owner')
    .where('status', '=', 'active')
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
