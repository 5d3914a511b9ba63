import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { OrganizationPlanChangesTable } from '../../platform/db/schema.js';
import type { Insertable } from 'kysely';

// Every query filters by organization_id explicitly: RLS is the backstop, and on Citus only an explicit
// filter routes a query to one shard.

/** The organization's plan key, its row locked (`FOR NO KEY UPDATE`: the organization lock invitations
 *  and membership changes take too). */
export async function lockedPlanOf(db: TenantDb, orgId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('organizations')
    .select('plan')
    .where('id', '=', orgId)
    .forNoKeyUpdate()
    .executeTakeFirst();
  return row?.plan;
}

/** The organization's plan key. */
export async function planOf(db: TenantDb, orgId: string): Promise<string | undefined> {
  const row = await db.selectFrom('organizations').select('plan').where('id', '=', orgId).executeTakeFirst();
  return row?.plan;
}

export async function setPlan(db: TenantDb, orgId: string, plan: string): Promise<void> {
  await db
    .updateTable('organizations')
    .set({ plan, updated_at: new Date() })
    .where('id', '=', orgId)
    .execute();
}

/** Appends one change to the organization's plan history. */
export async function insertPlanChange(
  db: TenantDb,
  row: Insertable<OrganizationPlanChangesTable>,
): Promise<void> {
  await db.insertInto('organization_plan_changes').values(row).execute();
}
