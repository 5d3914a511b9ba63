import { sql, type Selectable } from 'kysely';
import type { OrganizationsTable } from '../../platform/db/schema.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { TENANT_DATABASE_MARK } from '../../platform/tenancy/statement-home.js';

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
  org: { id: string; slug: string; name: string; personal: boolean; region?: string | null },
  opts: { anyConflict?: boolean } = {},
): Promise<OrganizationRow | undefined> {
  return db
    .insertInto('organizations')
    .values(org)
    .onConflict((oc) => (opts.anyConflict ? oc.doNothing() : oc.column('slug').doNothing()))
    .returningAll()
    .executeTakeFirst();
}

/** Where a new organization is created: a region (REGIONS) and the tenant database that holds it. */
export interface RegionPlacement {
  readonly region: string;
  readonly databaseKey: string;
}

/**
 * The placement record of a new organization: pooled on the control database, or, created in a region,
 * its region's tenant database. There the scope (opened with `creatingIn`) also writes the tenant
 * database's own copy of the organization's row, which that database's placed rows reference by foreign
 * key (its id, with `org-<id>` for slug and name; nothing reads it: the control database's row is the one).
 */
export async function insertPlacement(
  db: TenantDb,
  org: { id: string; slug: string; name: string; personal: boolean },
  where?: RegionPlacement,
): Promise<void> {
  if (where === undefined) {
    await db
      .insertInto('tenant_placements')
      .values({ organization_id: org.id, database_key: null })
      .execute();
    return;
  }
  await db
    .insertInto('tenant_placements')
    .values({ organization_id: org.id, kind: 'database', database_key: where.databaseKey })
    .execute();
  // Neither its slug nor its name: the copy must never block a slug (renamed or freed later, the control
  // database's row is the only one that changes) nor keep a name the organization no longer has.
  const placeholder = `org-${org.id}`;
  await sql`${sql.raw(TENANT_DATABASE_MARK)}insert into organizations (id, slug, name, personal, region)
    values (${org.id}, ${placeholder}, ${placeholder}, ${org.personal}, ${where.region})`.execute(db);
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
