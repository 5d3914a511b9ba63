import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Tenant rows touched by an erasure, inside each organization's own scope. Every query filters by
// organization_id explicitly (RLS is the backstop).

export interface MemberStanding {
  user_id: string;
  role: string;
  status: string;
}

/** Every membership of the organization (to tell whether the user is its last owner, or alone in it). */
export function memberships(db: TenantDb, orgId: string): Promise<MemberStanding[]> {
  return db
    .selectFrom('memberships')
    .select(['user_id', 'role', 'status'])
    .where('organization_id', '=', orgId)
    .execute();
}

/** The organization's slug and name (for the last-owner refusal). */
export function organizationName(
  db: TenantDb,
  orgId: string,
): Promise<{ slug: string; name: string } | undefined> {
  return db.selectFrom('organizations').select(['slug', 'name']).where('id', '=', orgId).executeTakeFirst();
}

/** Locks the organization row (a membership change of the organization waits for the erasure). */
export async function lockOrganization(db: TenantDb, orgId: string): Promise<void> {
  await sql`select 1 from organizations where id = ${orgId} for update`.execute(db);
}

/** Revokes the live API keys the user created; returns their ids. */
export async function revokeKeysCreatedBy(db: TenantDb, orgId: string, userId: string): Promise<string[]> {
  const rows = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql<Date>`now()` })
    .where('organization_id', '=', orgId)
    .where('created_by_user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * The organization's invitations addressed to the user's e-mail lose the address (replaced by the
 * user's tombstone address); pending ones are revoked. Invitations are never deleted (grants); their
 * mail counts (`invitation_sends`) are.
 */
export async function forgetInvitationsTo(
  db: TenantDb,
  orgId: string,
  emailNormalized: string,
  tombstone: string,
): Promise<number> {
  const res = await db
    .updateTable('invitations')
    .set({
      email_normalized: tombstone,
      status: sql<
        'pending' | 'accepted' | 'revoked'
      >`case when status = 'pending' then 'revoked' else status end`,
    })
    .where('organization_id', '=', orgId)
    .where('email_normalized', '=', emailNormalized)
    .executeTakeFirst();
  // The mail counts of the hourly invitation limits hold the address too.
  await db
    .deleteFrom('invitation_sends')
    .where('organization_id', '=', orgId)
    .where('email_normalized', '=', emailNormalized)
    .execute();
  return Number(res.numUpdatedRows);
}

/** Removes the user's membership; true when there was one. */
export async function deleteMembership(db: TenantDb, orgId: string, userId: string): Promise<boolean> {
  const res = await db
    .deleteFrom('memberships')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/**
 * Deletes the organization's SCIM directory record of the user (user name, names, e-mails) and their
 * directory group memberships: the record is keyed by the user id, which erasure keeps, so it would
 * otherwise stay and be served by the organization's SCIM API. Placed tables: they live wherever the
 * organization is placed, which the tenant handle already points at. True when there was a record.
 */
export async function deleteDirectoryRecord(db: TenantDb, orgId: string, userId: string): Promise<boolean> {
  await db
    .deleteFrom('scim_group_members')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .execute();
  const res = await db
    .deleteFrom('scim_users')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
