import type pg from 'pg';
import type { Logger } from 'pino';
import type { QuotaNotices } from './quota-notices.js';

/** Ids per call of `worker_api.app_priv_quota_organizations` (it refuses more than 10000). */
const CHUNK = 1000;

/**
 * Which of these organizations have a plan with quotas, read from the control database (its
 * `organizations` and `plans`: an organization's plan and the plan catalog live there whatever its
 * placement). A named privileged path (migration 0074): the worker role's, outside any tenant scope,
 * logged as a privileged operation.
 */
export async function quotaPlanOrganizations(
  workerPool: pg.Pool,
  orgIds: readonly string[],
  log?: Logger,
): Promise<Set<string>> {
  log?.debug({ privileged_operation: 'quota_organizations', count: orgIds.length }, 'privileged operation');
  const out = new Set<string>();
  for (let i = 0; i < orgIds.length; i += CHUNK) {
    const res = await workerPool.query<{ org_id: string }>(
      'select org_id from worker_api.app_priv_quota_organizations($1::uuid[])',
      [orgIds.slice(i, i + CHUNK)],
    );
    for (const r of res.rows) out.add(r.org_id);
  }
  return out;
}

/**
 * The quota notices' hook of a tenant database's aggregator (`changedAnyPlan`: every organization that had
 * events there, whatever the plan of its row's copy in that database): keeps the organizations whose plan
 * in the CONTROL database has quotas, then schedules their check as the control database's aggregator
 * does. Returns at once (the aggregator does not wait); a failed lookup is logged and those changes are
 * not checked this time (the check compares the usage reached, so the organization's next aggregated
 * events check it again).
 */
export function scheduleByControlPlans(deps: {
  /** A pool of the control database's worker role. */
  workerPool: pg.Pool;
  notices: Pick<QuotaNotices, 'schedule'>;
  log: Logger;
}): (changed: { organizationId: string; day: Date }[]) => void {
  return (changed) => {
    if (changed.length === 0) return;
    const ids = [...new Set(changed.map((c) => c.organizationId))];
    quotaPlanOrganizations(deps.workerPool, ids, deps.log)
      .then((withQuotas) => deps.notices.schedule(changed.filter((c) => withQuotas.has(c.organizationId))))
      .catch((err: unknown) =>
        deps.log.error(
          { component: 'quotas', err },
          'quota notices: the plans of a tenant database’s organizations could not be read',
        ),
      );
  };
}
