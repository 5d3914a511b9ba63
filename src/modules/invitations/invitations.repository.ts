import type { Selectable } from 'kysely';
import type { InvitationsTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export type InvitationRow = Selectable<InvitationsTable>;

/** Inserts a pending invitation. */
export function insertInvitation(
  db: TenantDb,
  row: Omit<InvitationRow, 'created_at' | 'accepted_at' | 'status'>,
): Promise<InvitationRow> {
  return db
    .insertInto('invitations')
    .values({ ...row, status: 'pending', accepted_at: null })
    .returningAll()
    .executeTakeFirstOrThrow();
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

/** Invitations created in the tenant since `since` (for the rate limit). */
export async function countCreatedSince(db: TenantDb, orgId: string, since: Date): Promise<number> {
  const r = await db
    .selectFrom('invitations')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('organization_id', '=', orgId)
    .where('created_at', '>', since)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
