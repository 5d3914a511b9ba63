import { sql } from 'kysely';
import type { Selectable } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { OrganizationDomainsTable, SsoConnectionsTable } from '../../platform/db/schema.js';
import type { Updateable, Insertable } from 'kysely';

export type ConnectionRow = Selectable<SsoConnectionsTable>;
export type DomainRow = Selectable<OrganizationDomainsTable>;

/** The binding of a connection's sealed OIDC client secret (rotation re-encrypts it: sealed-columns.ts). */
export const clientSecretBinding = (connectionId: string) => ({
  table: 'sso_connections',
  column: 'oidc_client_secret',
  rowId: connectionId,
});

export async function findConnection(db: TenantDb, org: string, id: string, forUpdate = false) {
  let q = db
    .selectFrom('sso_connections')
    .selectAll()
    .where('organization_id', '=', org)
    .where('id', '=', id);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function listConnections(db: TenantDb, org: string, after: string | null, limit: number) {
  let q = db.selectFrom('sso_connections').selectAll().where('organization_id', '=', org);
  if (after) q = q.where('id', '>', after);
  return q.orderBy('id').limit(limit).execute();
}

export async function insertConnection(db: TenantDb, row: Insertable<SsoConnectionsTable>) {
  const inserted = await db
    .insertInto('sso_connections')
    .values(row)
    .returningAll()
    .executeTakeFirstOrThrow();
  await db
    .insertInto('sso_connection_lookup')
    .values({ connection_id: row.id, organization_id: row.organization_id })
    .execute();
  return inserted;
}

export async function updateConnection(
  db: TenantDb,
  org: string,
  id: string,
  set: Updateable<SsoConnectionsTable>,
) {
  return db
    .updateTable('sso_connections')
    .set({ ...set, updated_at: new Date() })
    .where('organization_id', '=', org)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

export async function deleteConnection(db: TenantDb, org: string, id: string): Promise<boolean> {
  await db
    .deleteFrom('sso_identities')
    .where('organization_id', '=', org)
    .where('connection_id', '=', id)
    .execute();
  await db
    .deleteFrom('sso_connection_lookup')
    .where('organization_id', '=', org)
    .where('connection_id', '=', id)
    .execute();
  const res = await db
    .deleteFrom('sso_connections')
    .where('organization_id', '=', org)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function findDomain(db: TenantDb, org: string, domain: string, forUpdate = false) {
  let q = db
    .selectFrom('organization_domains')
    .selectAll()
    .where('organization_id', '=', org)
    .where('domain', '=', domain);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function isVerifiedDomain(db: TenantDb, org: string, domain: string): Promise<boolean> {
  const row = await db
    .selectFrom('organization_domains')
    .select('domain')
    .where('organization_id', '=', org)
    .where('domain', '=', domain)
    .where('status', '=', 'verified')
    .executeTakeFirst();
  return row !== undefined;
}

export async function listDomains(db: TenantDb, org: string, after: string | null, limit: number) {
  let q = db.selectFrom('organization_domains').selectAll().where('organization_id', '=', org);
  if (after) q = q.where('domain', '>', after);
  return q.orderBy('domain').limit(limit).execute();
}

export async function insertDomain(db: TenantDb, org: string, domain: string, token: string) {
  return db
    .insertInto('organization_domains')
    .values({ organization_id: org, domain, verification_token: token })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Marks a domain verified and claims it in the global lookup, in the caller's transaction. False when
 *  another organization already holds it (the lookup's primary key). */
export async function markVerified(db: TenantDb, org: string, domain: string): Promise<boolean> {
  const claimed = await db
    .insertInto('verified_domain_lookup')
    .values({ domain, organization_id: org })
    .onConflict((oc) => oc.column('domain').doNothing())
    .returning('organization_id')
    .executeTakeFirst();
  if (!claimed) {
    // Already ours (a re-verification) or another organization's: RLS shows only our own row.
    const ours = await db
      .selectFrom('verified_domain_lookup')
      .select('domain')
      .where('organization_id', '=', org)
      .where('domain', '=', domain)
      .executeTakeFirst();
    if (!ours) return false;
  }
  await db
    .updateTable('organization_domains')
    .set({
      status: 'verified',
      verified_at: sql<Date>`coalesce(verified_at, now())`,
      last_checked_at: sql<Date>`now()`,
      failed_checks: 0,
    })
    .where('organization_id', '=', org)
    .where('domain', '=', domain)
    .execute();
  return true;
}

/** Records a failed check; `unverify` drops the verification and the lookup row. */
export async function markCheckFailed(db: TenantDb, org: string, domain: string, unverify: boolean) {
  await db
    .updateTable('organization_domains')
    .set(
      unverify
        ? { status: 'pending', verified_at: null, last_checked_at: sql<Date>`now()`, failed_checks: 0 }
        : { last_checked_at: sql<Date>`now()`, failed_checks: sql<number>`failed_checks + 1` },
    )
    .where('organization_id', '=', org)
    .where('domain', '=', domain)
    .execute();
  if (unverify) await releaseDomain(db, org, domain);
}

export async function releaseDomain(db: TenantDb, org: string, domain: string) {
  await db
    .deleteFrom('verified_domain_lookup')
    .where('organization_id', '=', org)
    .where('domain', '=', domain)
    .execute();
}

export async function deleteDomain(db: TenantDb, org: string, domain: string): Promise<boolean> {
  await releaseDomain(db, org, domain);
  const res = await db
    .deleteFrom('organization_domains')
    .where('organization_id', '=', org)
    .where('domain', '=', domain)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function findIdentity(db: TenantDb, org: string, connectionId: string, subject: string) {
  return db
    .selectFrom('sso_identities')
    .select('user_id')
    .where('organization_id', '=', org)
    .where('connection_id', '=', connectionId)
    .where('subject', '=', subject)
    .executeTakeFirst();
}

export async function insertIdentity(
  db: TenantDb,
  org: string,
  connectionId: string,
  subject: string,
  userId: string,
) {
  await db
    .insertInto('sso_identities')
    .values({ organization_id: org, connection_id: connectionId, subject, user_id: userId })
    .execute();
}

/** Whether the user's current address is in a domain `org` verified. */
export async function addressInVerifiedDomain(db: TenantDb, org: string, userId: string) {
  const user = await db
    .selectFrom('users')
    .select('email_normalized')
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!user) return false;
  const domain = user.email_normalized.slice(user.email_normalized.lastIndexOf('@') + 1);
  return isVerifiedDomain(db, org, domain);
}

/** Removes a (connection, subject) link. */
export async function deleteIdentity(db: TenantDb, org: string, connectionId: string, subject: string) {
  await db
    .deleteFrom('sso_identities')
    .where('organization_id', '=', org)
    .where('connection_id', '=', connectionId)
    .where('subject', '=', subject)
    .execute();
}

export async function touchIdentity(db: TenantDb, org: string, connectionId: string, subject: string) {
  await db
    .updateTable('sso_identities')
    .set({ last_sign_in_at: sql<Date>`now()` })
    .where('organization_id', '=', org)
    .where('connection_id', '=', connectionId)
    .where('subject', '=', subject)
    .execute();
}

export async function findMembership(db: TenantDb, org: string, userId: string) {
  return db
    .selectFrom('memberships')
    .select(['role', 'status'])
    .where('organization_id', '=', org)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

/** Makes the membership ACTIVE with `role` (inserting it if needed): the same statement as an invitation's. */
export { activateMembership as upsertMembership } from '../invitations/invitations.repository.js';

export async function requireSso(db: TenantDb, org: string): Promise<boolean> {
  const row = await db
    .selectFrom('organizations')
    .select('require_sso')
    .where('id', '=', org)
    .executeTakeFirst();
  return row?.require_sso ?? false;
}

export async function setRequireSso(db: TenantDb, org: string, value: boolean) {
  await db
    .updateTable('organizations')
    .set({ require_sso: value, updated_at: new Date() })
    .where('id', '=', org)
    .execute();
}
