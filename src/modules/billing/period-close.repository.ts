import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

// What the period close reads in an organization's scope. Every query filters by organization_id
// explicitly (RLS is the backstop).

/** When the organization was created, or undefined. */
export async function organizationCreatedAt(db: TenantDb, orgId: string): Promise<Date | undefined> {
  const row = await db
    .selectFrom('organizations')
    .select('created_at')
    .where('id', '=', orgId)
    .executeTakeFirst();
  return row?.created_at;
}

/**
 * The end (`YYYY-MM-DD`, exclusive) of the latest period that has an invoice in any status, void included,
 * or undefined: the scheduled close goes on from there (a period with a void invoice counts as handled;
 * re-issuing one is a deliberate `closePeriod`, never automatic).
 */
export async function lastInvoicedPeriodEnd(db: TenantDb, orgId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('invoices')
    .select(sql<string>`period_end::text`.as('period_end'))
    .where('organization_id', '=', orgId)
    .orderBy('period_end', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.period_end;
}
