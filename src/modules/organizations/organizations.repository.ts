import type { Selectable } from 'kysely';
import type { OrganizationsTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

export type OrganizationRow = Selectable<OrganizationsTable>;

// The organization row is its own tenant (`id = app_current_tenant()`): every query here runs inside the
// organization's own scope and names its id explicitly.

/** Inserts the organization row of the current tenant (its id must equal the scope's tenant). */
export async function insertOrganization(
  db: TenantDb,
  org: { id: string; slug: string; name: string; personal?: boolean },
): Promise<OrganizationRow> {
  return db.insertInto('organizations').values(org).returningAll().executeTakeFirstOrThrow();
}

/**
 * Inserts the organization unless its slug (or, with `anyConflict`, its id) is already used, in which
 * case nothing is inserted and undefined is returned. A conflict does not abort the transaction, so a
 * caller can retry with another slug in the same transaction (sign-up does).
 */
export async function insertOrganizationIfFree(
  db: TenantDb,
  org: { id: string; slug: string; name: string; personal: boolean },
  opts: { anyConflict?: boolean } = {},
): Promise<OrganizationRow | undefined> {
  return db
    .insertInto('organizations')
    .values(org)
    .onConflict((oc) => (opts.anyConflict ? oc.doNothing() : oc.column('slug').doNothing()))
    .returningAll()
    .executeTakeFirst();
}

/** The placement record of a new organization (pooled, on the control database). */
export async function insertPlacement(db: TenantDb, orgId: string): Promise<void> {
  await db.insertInto('tenant_placements').values({ organization_id: orgId, database_key: null }).execute();
}

/** The current tenant's organization row; `forUpdate` locks it until the transaction ends. */
export async function findOrganization(
  db: TenantDb,
  id: string,
  opts: { forUpdate?: boolean } = {},
): Promise<OrganizationRow | undefined> {
  const q = db.selectFrom('organizations').selectAll().where('id', '=', id);
  return (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
}

/** Changes name, slug and/or settings (settings are replaced as a whole). */
export async function updateOrganization(
  db: TenantDb,
  id: string,
  patch: { name?: string; slug?: string; settings?: Record<string, unknown> },
): Promise<OrganizationRow | undefined> {
  return db
    .updateTable('organizations')
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.slug !== undefined ? { slug: patch.slug } : {}),
      ...(patch.settings !== undefined ? { settings: patch.settings } : {}),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}
