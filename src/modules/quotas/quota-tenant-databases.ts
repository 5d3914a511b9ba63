import type pg from 'pg';
import type { Logger } from 'pino';

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
 * The quota notices' filter of a tenant database's aggregator (`changedAnyPlan`: every organization that
 * had events there, whatever the plan of its row's copy in that database): keeps the changes of the
 * organizations whose plan in the CONTROL database has quotas (`keepChanged`, run before that database's
 * aggregation commits). A failed lookup throws, so the aggregation run rolls back and the next run
 * aggregates the same events and looks their organizations up again: no notice check is dropped.
 */
export function keepByControlPlans(deps: {
  /** A pool of the control database's worker role. */
  workerPool: pg.Pool;
  log?: Logger;
}): (changed: { organizationId: string; day: Date }[]) => Promise<{ organizationId: string; day: Date }[]> {
  return async (changed) => {
    if (changed.length === 0) return [];
    const ids = [...new Set(changed.map((c) => c.organizationId))];
    const withQuotas = await quotaPlanOrganizations(deps.workerPool, ids, deps.log);
    return changed.filter((c) => withQuotas.has(c.organizationId));
  };
}
