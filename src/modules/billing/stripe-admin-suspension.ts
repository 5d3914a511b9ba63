import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { mailOwners } from './stripe-mail.js';

const DAY_MS = 86_400_000;

/**
 * What a platform administrator's suspension or unsuspension does to the organization's Stripe billing
 * state, in the administrator's transaction. The caller holds the organization row lock already: the
 * customer row is locked SECOND, the order of every path that changes both (the grace job, the webhook),
 * so none of them can deadlock with another.
 *
 * Suspension: the suspension is the administrator's from now on (a payment does not lift it), so billing's
 * mark is cleared.
 *
 * Unsuspension of a past-due organization, whatever suspended it (billing, the administrator on top of
 * billing's suspension, or the administrator while its grace period ran or ran out): a fresh grace period
 * of `graceDays` from now (never shorter than the one under way), the owners mailed the new deadline (with
 * `billingLink`); when it ends unpaid, the grace job suspends it again. Never a lasting exemption, and never
 * an unsuspension the job undoes five minutes later because a grace period ended while it was suspended.
 *
 * @returns the new end of the grace period, when one was given
 */
export async function followAdministratorSuspension(
  db: TenantDb,
  orgId: string,
  suspended: boolean,
  opts: { now: Date; graceDays: number; billingLink?: (slug: string) => string },
): Promise<Date | null> {
  const customer = await db
    .selectFrom('stripe_customers')
    .select(['status', 'grace_ends_at', 'suspended_by_billing'])
    .where('organization_id', '=', orgId)
    .forUpdate()
    .executeTakeFirst();
  if (!customer) return null;
  const fresh = new Date(opts.now.getTime() + opts.graceDays * DAY_MS);
  const graceEndsAt =
    suspended || customer.status !== 'past_due'
      ? null
      : customer.grace_ends_at && customer.grace_ends_at > fresh
        ? customer.grace_ends_at
        : fresh;
  if (!customer.suspended_by_billing && graceEndsAt === null) return null;
  await db
    .updateTable('stripe_customers')
    .set({
      suspended_by_billing: false,
      ...(graceEndsAt ? { grace_ends_at: graceEndsAt } : {}),
      updated_at: new Date(),
    })
    .where('organization_id', '=', orgId)
    .execute();
  if (graceEndsAt && opts.billingLink) {
    const key = `unsuspended-${opts.now.getTime()}`;
    await mailOwners(db, orgId, 'past_due', key, opts.billingLink, graceEndsAt);
  }
  return graceEndsAt;
}
