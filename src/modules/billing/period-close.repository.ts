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
 * Whether the period has an invoice in any status, void included: the scheduled close treats a period
 * with a void invoice as handled (re-issuing one is a deliberate `closePeriod`, never automatic).
 */
export async function periodHasInvoice(
  db: TenantDb,
  orgId: string,
  period: { start: string; end: string },
): Promise<boolean> {
  const row = await db
    .selectFrom('invoices')
    .select('id')
    .where('organization_id', '=', orgId)
    .where('period_start', '=', period.start)
    .where('period_end', '=', period.end)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
