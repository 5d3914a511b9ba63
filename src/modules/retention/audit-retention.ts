import type { AuditRetentionBatch } from '../../platform/tenancy/privileged-retention.js';
import type { RetentionRule } from './retention.js';

/** One batch of `auditRetentionPurge` (privileged-retention.ts), over the worker pool. */
export type AuditRetentionPurge = (
  now: Date,
  after: { organizationId: string; include: boolean } | null,
  limit: number,
) => Promise<AuditRetentionBatch | null>;

/**
 * Audit events per plan (`plans.audit_retention_days`; null: kept forever), cut at signed checkpoints so
 * every chain keeps verifying: the whole rule is `worker_api.app_retention_purge_audit` (migration 0031),
 * called batch after batch. It walks the organizations by id: the cursor lives here between the batches of
 * one run (a batch of one organization that came back full starts the next call with it again), and goes
 * back to the start once the walk is past the last organization, or fails.
 */
export function auditRetentionRule(purge: AuditRetentionPurge): RetentionRule {
  let cursor: { organizationId: string; include: boolean } | null = null;
  // The walk ended on a batch that was full: runRetention asks once more, and that call answers 0.
  let finished = false;
  return {
    kind: 'audit_events',
    keepDays: 'plan',
    async purgeBatch(now, limit) {
      if (finished) {
        finished = false;
        return 0;
      }
      let total = 0;
      try {
        for (;;) {
          const batch = await purge(now, cursor, limit);
          if (!batch) {
            cursor = null;
            finished = total >= limit;
            return total;
          }
          cursor = { organizationId: batch.organizationId, include: batch.more };
          total += batch.deleted;
          if (total >= limit) return total;
        }
      } catch (err) {
        cursor = null;
        throw err;
      }
    },
  };
}
