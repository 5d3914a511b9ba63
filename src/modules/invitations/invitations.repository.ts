import type { Selectable } from 'kysely';
import type { InvitationsTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard. `users` is global (no RLS) and is only read by id or address.

export type InvitationRow = Selectable<InvitationsTable>;

/**
 * Locks the organization row (FOR NO KEY UPDATE), as the memberships module does before every membership
 * or role change: invitations create, delete and activate memberships, so they serialize with those
 * changes (a custom role cannot be deleted while an invitation gives it out, an inviter demoted meanwhile
 * is seen demoted, a revoke and an accept of one invitation cannot both win).
 */
/** Locks the organization's row; its lifecycle as read under the lock (undefined: no such row). */
export async function lockOrganization(db: TenantDb, orgId: string) {
  return db
    .selectFrom('organizations')
    .select(['lifecycle_state', 'suspension_reason'])
    .where('id', '=', orgId)
    .forNoKeyUpdate()
    .executeTakeFirst();
}

/** The organization's display name (for the mail). */
export async function organizationName(db: TenantDb, orgId: string): Promise<string> {
  const r = await db
    .selectFrom('organizations')
    .select('name')
    .where('id', '=', orgId)
    .executeTakeFirstOrThrow();
  return r.name;
}

/**
 * Inserts a pending invitation, and the row of `invitation_lookup` (migration 0047) its link is found by
 * before the organization is known, in the same transaction.
 */
export async function insertInvitation(
  db: TenantDb,
  row: Omit<InvitationRow, 'created_at' | 'accepted_at' | 'status'>,
): Promise<InvitationRow> {
  const inv = await db
    .insertInto('invitations')
    .values({ ...row, status: 'pending', accepted_at: null })
    .returningAll()
    .executeTakeFirstOrThrow();
  await db
    .insertInto('invitation_lookup')
    .values({ token_hash: row.token_hash, organization_id: row.organization_id, invitation_id: row.id })
    .execute();
  return inv;
}

/** One invitation of the tenant. */
export function findInvitation(db: TenantDb, orgId: string, id: string): Promise<InvitationRow | undefined> {
  return db
    .selectFrom('invitations')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** The pending invitation of an address, if any. */
export function findPendingByEmail(
  db: TenantDb,
  orgId: string,
  email: string,
): Promise<InvitationRow | undefined> {
  return db
    .selectFrom('invitations')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('email_normalized', '=', email)
    .where('status', '=', 'pending')
    .executeTakeFirst();
}

/** Pending invitations, newest first. */
export function listPending(
  db: TenantDb,
  orgId: string,
  opts: { before?: string; limit: number },
): Promise<InvitationRow[]> {
  let q = db
    .selectFrom('invitations')
    .selectAll()
    .where('organization_id', '=', orgId)
    .where('status', '=', 'pending');
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/**
 * The time of the `n`-th newest invitation mail sent after `since` (first sends and resends alike; to
 * `email` only, when given): when it exists the limit is reached, and a slot frees when it leaves the
 * window.
 */
export async function nthNewestSendSince(
  db: TenantDb,
  orgId: string,
  since: Date,
  n: number,
  email?: string,
): Promise<Date | undefined> {
  let q = db
    .selectFrom('invitation_sends')
    .select('sent_at')
    .where('organization_id', '=', orgId)
    .where('sent_at', '>', since);
  if (email !== undefined) q = q.where('email_normalized', '=', email);
  const r = await q
    .orderBy('sent_at', 'desc')
    .offset(n - 1)
    .limit(1)
    .executeTakeFirst();
  return r?.sent_at;
}

/** Records one invitation mail, and forgets the organization's records older than `forgetBefore`. */
export async function recordSend(
  db: TenantDb,
  row: { organization_id: string; id: string; invitation_id: string; email_normalized: string },
  forgetBefore: Date,
): Promise<void> {
  await db
    .deleteFrom('invitation_sends')
    .where('organization_id', '=', row.organization_id)
    .where('sent_at', '<', forgetBefore)
    .execute();
  await db.insertInto('invitation_sends').values(row).execute();
}

/** Sets an invitation's status (and `accepted_at` when accepted). */
export async function setStatus(
  db: TenantDb,
  orgId: string,
  id: string,
  status: 'accepted' | 'revoked',
): Promise<void> {
  await db
    .updateTable('invitations')
    .set({ status, ...(status === 'accepted' ? { accepted_at: new Date() } : {}) })
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .execute();
}

/** Replaces the token and the expiry of an invitation, and its lookup row: the old link finds nothing. */
export async function renewToken(
  db: TenantDb,
  orgId: string,
  id: string,
  tokenHash: Buffer,
  expiresAt: Date,
): Promise<InvitationRow> {
  const inv = await db
    .updateTable('invitations')
    .set({ token_hash: tokenHash, expires_at: expiresAt })
    .where('organization_id', '=', orgId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await db
    .deleteFrom('invitation_lookup')
    .where('organization_id', '=', orgId)
    .where('invitation_id', '=', id)
    .execute();
  await db
    .insertInto('invitation_lookup')
    .values({ token_hash: tokenHash, organization_id: orgId, invitation_id: id })
    .execute();
  return inv;
}

/** The account with this normalized address, if any. */
export async function findUserIdByEmail(db: TenantDb, email: string): Promise<string | undefined> {
  const r = await db
    .selectFrom('users')
    .select('id')
    .where('email_normalized', '=', email)
    .executeTakeFirst();
  return r?.id;
}

/** A user's normalized address, if the user exists. */
export async function findUserEmail(db: TenantDb, userId: string): Promise<string | undefined> {
  const r = await db
    .selectFrom('users')
    .select('email_normalized')
    .where('id', '=', userId)
    .executeTakeFirst();
  return r?.email_normalized;
}

/** A user's membership in the organization, if any. */
export function findMembership(
  db: TenantDb,
  orgId: string,
  userId: string,
): Promise<{ role: string; status: 'pending' | 'active' } | undefined> {
  return db
    .selectFrom('memberships')
    .select(['role', 'status'])
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

/** Creates (or re-roles) the PENDING membership of an invited existing account. Never touches an active one. */
export async function upsertPendingMembership(
  db: TenantDb,
  orgId: string,
  userId: string,
  role: string,
): Promise<void> {
  await db
    .insertInto('memberships')
    .values({ organization_id: orgId, user_id: userId, role, status: 'pending' })
    .onConflict((oc) =>
      oc
        .columns(['organization_id', 'user_id'])
        .doUpdateSet({ role, updated_at: new Date() })
        .where('memberships.status', '=', 'pending'),
    )
    .execute();
}

/** Makes the membership ACTIVE with `role` (inserting it if needed); bumps `permissions_version`. */
export async function activateMembership(
  db: TenantDb,
  orgId: string,
  userId: string,
  role: string,
): Promise<void> {
  await db
    .insertInto('memberships')
    .values({ organization_id: orgId, user_id: userId, role, status: 'active' })
    .onConflict((oc) =>
      oc.columns(['organization_id', 'user_id']).doUpdateSet((eb) => ({
        role,
        status: 'active',
        updated_at: new Date(),
        permissions_version: eb('memberships.permissions_version', '+', 1),
      })),
    )
    .execute();
}

/** Deletes the PENDING membership of the account with this address (an active one stays). */
export async function deletePendingMembership(db: TenantDb, orgId: string, email: string): Promise<void> {
  const userId = await findUserIdByEmail(db, email);
  if (!userId) return;
  await db
    .deleteFrom('memberships')
    .where('organization_id', '=', orgId)
    .where('user_id', '=', userId)
    .where('status', '=', 'pending')
    .execute();
}
