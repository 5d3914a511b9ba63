import type { Logger } from 'pino';
import { recordAudit } from '../../platform/audit/record.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { mailOwners } from './stripe-mail.js';
import * as repo from './stripe.repository.js';

/** The scheduled task that suspends organizations whose past-due grace period ended. */
export const STRIPE_GRACE_TASK = 'billing_stripe_grace';
/** Every 5 minutes (graphile-worker crontab). */
export const STRIPE_GRACE_CRONTAB = `*/5 * * * * ${STRIPE_GRACE_TASK}\n`;

/**
 * Suspends every organization whose grace period ended (`now` ≥ `grace_ends_at`, still past due, not
 * suspended yet), each in its own tenant transaction: re-checked under its organization row lock, then its
 * `stripe_customers` row lock, in that order like every path that changes both (a payment or an
 * administrator's suspension that arrived meanwhile wins), the organization `suspended` for `billing` if it was active (the authenticator then
 * answers 403 ORGANIZATION_SUSPENDED), audited `organization.suspended`, the owners mailed, one commit.
 *
 * @returns the organizations suspended
 */
export async function suspendExpiredGrace(deps: {
  /** `worker_api.app_priv_stripe_organizations('grace_expired', …)` on the worker pool. */
  graceExpired: (now: Date, after: string | null, limit: number) => Promise<string[]>;
  withTenant: WithTenant;
  now: () => Date;
  billingLink: (slug: string) => string;
  organizationChanged: (orgId: string) => void;
  log?: Logger;
}): Promise<string[]> {
  const now = deps.now();
  const suspended: string[] = [];
  let after: string | null = null;
  for (;;) {
    const ids = await deps.graceExpired(now, after, 500);
    for (const orgId of ids) {
      try {
        const done = await deps.withTenant(orgId, async (db) => {
          // The organization row first, then the customer row: the order of every path that changes both
          // (an administrator's suspension, a webhook), so none deadlocks with this one or acts on a state
          // read before the other committed.
          const org = await repo.lockOrganization(db, orgId);
          if (!org || org.lifecycleState !== 'active') return false;
          const state = await repo.customerOf(db, orgId, true);
          if (
            !state ||
            state.status !== 'past_due' ||
            state.suspendedByBilling ||
            !state.graceEndsAt ||
            state.graceEndsAt.getTime() > now.getTime()
          ) {
            return false;
          }
          if (!(await repo.suspendForBilling(db, orgId, now))) return false;
          await repo.saveState(db, orgId, { ...state, suspendedByBilling: true });
          const ctx = systemCtx(orgId, 'stripe-grace');
          await recordAudit(db, ctx, {
            action: 'organization.suspended',
            target: { type: 'organization', id: orgId },
            metadata: {
              via: 'stripe',
              reason: 'payment overdue',
              graceEndedAt: state.graceEndsAt.toISOString(),
            },
          });
          await mailOwners(db, orgId, 'suspended', state.graceEndsAt.toISOString(), deps.billingLink, null);
          return true;
        });
        if (done) {
          suspended.push(orgId);
          deps.organizationChanged(orgId);
        }
      } catch (err) {
        deps.log?.error({ tenant_id: orgId, err: (err as Error).message }, 'billing suspension failed');
      }
    }
    if (ids.length < 500) break;
    after = ids[ids.length - 1]!;
  }
  if (suspended.length > 0)
    deps.log?.info({ suspended: suspended.length }, 'past-due organizations suspended');
  return suspended;
}
