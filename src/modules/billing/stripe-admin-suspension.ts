import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

/**
 * What a platform administrator's suspension or unsuspension does to the organization's Stripe billing
 * state, in the administrator's transaction. The caller holds the organization row lock already: the
 * customer row is locked SECOND, the order of every path that changes both (the grace job, the webhook),
 * so none of them can deadlock with another.
 *
 * Suspension: the suspension is the administrator's from now on (a payment does not lift it), so billing's
 * mark is cleared.
 */
export async function followAdministratorSuspension(
  db: TenantDb,
  orgId: string,
  suspended: boolean,
  opts: { now: Date; graceDays: number },
): Promise<void> {
  const customer = await db
    .selectFrom('stripe_customers')
    .select(['status', 'grace_ends_at', 'suspended_by_billing'])
    .where('organization_id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
  if (!customer || !customer.suspended_by_billing) return;
  await db
    .updateTable('stripe_customers')
    .set({
      suspended_by_billing: false,
      grace_ends_at:
        suspended || customer.status !== 'past_due'
          ? customer.grace_ends_at
          : new Date(opts.now.getTime() + opts.graceDays * 86_400_000),
      updated_at: new Date(),
    })
    .where('organization_id', '=', orgId)
    .execute();
}
