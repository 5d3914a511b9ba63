import type { Selectable } from 'kysely';
import type { RolesTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export type RoleRow = Selectable<RolesTable>;

// Custom roles of the current organization. Every query filters by organization_id explicitly.

/** Custom roles by key, strictly after `after` when given. */
export function listCustomRoles(
  db: TenantDb,
  orgId: string,
  opts: { after?: string; limit: number },
): Promise<RoleRow[]> {
  let q = db.selectFrom('roles').selectAll().where('organization_id', '=', orgId);
  if (opts.after) q = q.where('key', '>', opts.after);
  return q.orderBy('key').limit(opts.limit).execute();
}

/**
 * One custom role. `lock: 'share'` when assigning it (a concurrent delete then waits for the assignment,
 * and sees the member); `'update'` when changing or deleting it.
 */
export function findCustomRole(
  db: TenantDb,
  orgId: string,
  key: string,
  opts: { lock?: 'share' | 'update' } = {},
): Promise<RoleRow | undefined> {
  let q = db.selectFrom('roles').selectAll().where('organization_id', '=', orgId).where('key', '=', key);
  if (opts.lock === 'share') q = q.forShare();
  if (opts.lock === 'update') q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Inserts a custom role; undefined when the key is taken (the transaction stays usable). */
export function insertCustomRole(
  db: TenantDb,
  row: { organization_id: string; key: string; name: string; permissions: string[] },
): Promise<RoleRow | undefined> {
  return db
    .insertInto('roles')
    .values(row)
    .onConflict((oc) => oc.columns(['organization_id', 'key']).doNothing())
    .returningAll()
    .executeTakeFirst();
}

/** Changes a custom role's name and/or permissions. */
export function updateCustomRole(
  db: TenantDb,
  orgId: string,
  key: string,
  patch: { name?: string; permissions?: string[] },
): Promise<RoleRow | undefined> {
  return db
    .updateTable('roles')
    .set(patch)
    .where('organization_id', '=', orgId)
    .where('key', '=', key)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes a custom role; true when one was deleted. */
export async function deleteCustomRole(db: TenantDb, orgId: string, key: string): Promise<boolean> {
  const res = await db
    .deleteFrom('roles')
    .where('organization_id', '=', orgId)
    .where('key', '=', key)
    .executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/** How many memberships (active or pending) hold the role. */
export async function countHolders(db: TenantDb, orgId: string, key: string): Promise<number> {
  const r = await db
    .selectFrom('memberships')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('organization_id', '=', orgId)
    .where('role', '=', key)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Bumps permissions_version of every membership holding the role (its permissions changed). */
export async function bumpHolders(db: TenantDb, orgId: string, key: string): Promise<void> {
  await db
    .updateTable('memberships')
    .set((eb) => ({ permissions_version: eb('permissions_version', '+', 1), updated_at: new Date() }))
    .where('organization_id', '=', orgId)
    .where('role', '=', key)
    .execute();
}
