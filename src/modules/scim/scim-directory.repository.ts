import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Database, ScimEmail, ScimGroupsTable, ScimUsersTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Every query filters by organization_id explicitly (RLS is the backstop). `users` is global: it is read
// by normalized email only to link an account, and written only to create one.

export type ScimUserRow = Selectable<ScimUsersTable>;
export type ScimGroupRow = Selectable<ScimGroupsTable>;

export interface ScimUserFields {
  user_name: string;
  external_id: string | null;
  given_name: string | null;
  family_name: string | null;
  display_name: string | null;
  emails: ScimEmail[];
  active: boolean;
}

export function findScimUser(db: TenantDb, orgId: string, userId: string, lock = false) {
  let q = db
    .selectFrom('scim_users')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

export function findScimUserByName(db: TenantDb, orgId: string, userName: string) {
  return db
    .selectFrom('scim_users')
    .select('user_id')
    .where('organization_id', '=', orgId)
    .where(sql<boolean>`lower(user_name) = lower(${userName})`)
    .executeTakeFirst();
}

export async function insertScimUser(db: TenantDb, orgId: string, userId: string, f: ScimUserFields) {
  return db
    .insertInto('scim_users')
    .values({ organization_id: orgId, user_id: userId, ...f, emails: JSON.stringify(f.emails) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function updateScimUser(db: TenantDb, orgId: string, userId: string, f: ScimUserFields) {
  return db
    .updateTable('scim_users')
    .set((eb) => ({
      ...f,
      emails: JSON.stringify(f.emails),
      version: eb('version', '+', 1),
      updated_at: new Date(),
    }))
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function deleteScimUser(db: TenantDb, orgId: string, userId: string): Promise<void> {
  await db
    .deleteFrom('scim_users')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .execute();
}

/**
 * A page of the organization's rows of `table` matching `where`, ordered by creation then `key`, and the
 * count of all matches: the list of Users and of Groups.
 */
async function listPage<T extends 'scim_users' | 'scim_groups'>(
  db: TenantDb,
  table: T,
  key: T extends 'scim_users' ? 'user_id' : 'id',
  orgId: string,
  where: RawBuilder<boolean>,
  window: { offset: number; count: number },
): Promise<{ rows: Selectable<Database[T]>[]; total: number }> {
  // One shape for both tables (their columns differ only by the key): typed as scim_users.
  const base = db
    .selectFrom(table as 'scim_users')
    .where('organization_id', '=', orgId)
    .where(where);
  const total = await base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const rows =
    window.count === 0
      ? []
      : await base
          .selectAll()
          .orderBy('created_at')
          .orderBy(sql.ref(key))
          .offset(window.offset)
          .limit(window.count)
          .execute();
  return { rows: rows as unknown as Selectable<Database[T]>[], total: Number(total.n) };
}

/** A page of users matching `where`, ordered by creation, and the total count. */
export const listScimUsers = (
  db: TenantDb,
  orgId: string,
  where: RawBuilder<boolean>,
  window: { offset: number; count: number },
) => listPage(db, 'scim_users', 'user_id', orgId, where, window);

export function findGroup(db: TenantDb, orgId: string, id: string, lock = false) {
  let q = db.selectFrom('scim_groups').selectAll().where('organization_id', '=', orgId).where('id', '=', id);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** A page of groups matching `where`, ordered by creation, and the total count. */
export const listGroups = (
  db: TenantDb,
  orgId: string,
  where: RawBuilder<boolean>,
  window: { offset: number; count: number },
) => listPage(db, 'scim_groups', 'id', orgId, where, window);

/** The members (user id and userName) of groups of the organization. */
export function groupMembers(db: TenantDb, orgId: string, groupIds: string[]) {
  if (groupIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('scim_group_members as m')
    .innerJoin('scim_users as u', (j) =>
      j.onRef('u.organization_id', '=', 'm.organization_id').onRef('u.user_id', '=', 'm.user_id'),
    )
    .select(['m.group_id', 'm.user_id', 'u.user_name'])
    .where('m.organization_id', '=', orgId)
    .where('u.organization_id', '=', orgId)
    .where('m.group_id', 'in', groupIds)
    .orderBy('m.user_id')
    .execute();
}

/** Which of `userIds` are SCIM users of the organization (ids of other organizations never are). */
export async function knownUsers(db: TenantDb, orgId: string, userIds: string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('scim_users')
    .select('user_id')
    .where('organization_id', '=', orgId)
    .where('user_id', 'in', userIds)
    .execute();
  return new Set(rows.map((r) => r.user_id));
}

export async function setGroupMembers(
  db: TenantDb,
  orgId: string,
  groupId: string,
  userIds: string[],
): Promise<void> {
  await db
    .deleteFrom('scim_group_members')
    .where('organization_id', '=', orgId)
    .where('group_id', '=', groupId)
    .execute();
  if (userIds.length === 0) return;
  await db
    .insertInto('scim_group_members')
    .values(userIds.map((user_id) => ({ organization_id: orgId, group_id: groupId, user_id })))
    .execute();
}
