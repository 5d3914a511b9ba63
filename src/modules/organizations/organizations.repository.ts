import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export interface OrganizationRow {
  id: string;
  slug: string;
  name: string;
  created_at: Date;
}

/** Inserts the organization row of the current tenant (its id must equal the scope's tenant). */
export async function insertOrganization(
  db: TenantDb,
  org: { id: string; slug: string; name: string },
): Promise<OrganizationRow> {
  return db.insertInto('organizations').values(org).returningAll().executeTakeFirstOrThrow();
}

/** The current tenant's organization row. */
export async function findOrganization(db: TenantDb, id: string): Promise<OrganizationRow | undefined> {
  return db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
}
