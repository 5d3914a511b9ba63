import type pg from 'pg';
import type { Logger } from 'pino';
import { storedJobKey } from '../../platform/jobs/payload-seal.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { deliverJobKey, queueDeliveryAttempt } from './webhook-delivery.js';
import * as repo from './webhooks.repository.js';

/** Every 10 minutes: re-queues deliveries whose job was lost (cron, unsealed, the main job runner). */
export const STUCK_SWEEP_TASK = 'webhooks_stuck_sweep';
export const STUCK_SWEEP_CRONTAB = `*/10 * * * * ${STUCK_SWEEP_TASK}\n`;
/**
 * A pending delivery whose attempt was due this long ago has lost its job: far beyond one attempt
 * (WEBHOOK_TIMEOUT_MS, at most 60 s) and the queue's usual delay.
 */
export const STUCK_AFTER_MS = 15 * 60_000;
const BATCH = 200;

export interface StuckSweepDeps {
  /** The WORKER role's pool: the cross-organization scan and the job queue are its. */
  workerPool: pg.Pool;
  withTenant: WithTenant;
  /** Automatic attempts a delivery gets (the retry schedule's length + 1): past them it is never revived. */
  maxAttempts: number;
  log?: Logger;
  now?: () => number;
  stuckAfterMs?: number;
}

/**
 * Re-queues every `pending` delivery whose attempt was due more than STUCK_AFTER_MS ago and that has no
 * job in the queue (lost with a crashed worker, a restored queue, a job that ran out of its own retries).
 * Never two in flight: a delivery that still has a job (queued, waiting or running) is left to it, and
 * each re-queue first claims the delivery in its organization's scope (next attempt moved to now, only if
 * still pending and still overdue), then queues it under the delivery's one job key. Idempotent: a second
 * run finds the job, or the delivery no longer overdue. A delivery that already had its last automatic
 * attempt (recorded, but its end not: a failure while recording it) is not queued again but ended `dead`.
 */
export async function requeueStuckDeliveries(deps: StuckSweepDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const before = new Date(now() - (deps.stuckAfterMs ?? STUCK_AFTER_MS));
  let requeued = 0;
  let ended = 0;
  const rows = await deps.workerPool.query<{ organization_id: string; id: string }>(
    'select organization_id, id from worker_api.app_priv_webhook_stuck_deliveries($1, $2)',
    [before, BATCH],
  );
  for (const { organization_id: org, id } of rows.rows) {
    const key = storedJobKey(org, deliverJobKey(id));
    const job = await deps.workerPool.query('select 1 from graphile_worker._private_jobs where key = $1', [
      key,
    ]);
    if (job.rows.length > 0) continue; // its job is still there: it will run
    const claimed = await deps.withTenant(org, async (db) => {
      if (!(await repo.claimStuckDelivery(db, org, id, before))) return 'gone';
      if ((await repo.automaticAttemptCount(db, org, id)) >= deps.maxAttempts) {
        await repo.setDeliveryState(db, org, id, {
          status: 'dead',
          nextAttemptAt: null,
          lastError: 'no attempt left (its last one did not complete)',
        });
        return 'dead';
      }
      await queueDeliveryAttempt(db, org, id, 'automatic');
      return 'queued';
    });
    if (claimed === 'queued') requeued++;
    if (claimed === 'dead') ended++;
  }
  if (ended > 0) {
    deps.log?.warn(
      { component: 'webhooks', ended },
      'webhook deliveries past their last attempt were ended dead instead of queued again',
    );
  }
  if (requeued > 0) {
    deps.log?.warn(
      { component: 'webhooks', requeued },
      'webhook deliveries whose job was lost were queued again',
    );
  }
  return requeued;
}
