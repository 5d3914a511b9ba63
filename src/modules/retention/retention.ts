import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AuditEventInput } from '../../platform/audit/chain.js';
import type { RetentionDays } from '../../platform/config-gdpr.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { RetentionPurgeKind } from '../../platform/tenancy/privileged-gdpr.js';

/** The recurring task that applies the retention periods. */
export const RETENTION_TASK = 'retention_purge';
/** Daily at 03:53 UTC (graphile-worker crontab: minute hour day month weekday task). */
export const RETENTION_CRONTAB = `53 3 * * * ${RETENTION_TASK}\n`;
/** Rows deleted per statement: each batch is its own short transaction, so no purge holds long locks. */
export const RETENTION_BATCH = 1000;

/**
 * One kind of data the retention job deletes. THE EXTENSION POINT: a module with data to expire adds a
 * rule (to `retentionRules` in src/app/compose/tenant-database-sweeps.ts, from its own configuration), with
 * a `purgeBatch` that deletes at most `limit` rows older than `cutoff` in one short transaction of its own,
 * through a named function of the worker role, and answers how many went. The rules run on the control
 * database and on each tenant database with a `workerUrl`, each on its worker role. Webhook delivery logs and the outbox come in this way
 * (src/modules/webhooks/webhook-retention.ts), and audit events per plan (audit-retention.ts).
 */
export interface RetentionRule {
  /** Reported in the audit event's counts (`snake_case`). */
  readonly kind: string;
  /**
   * Rows past this many days (after their end: expiry, use, revocation) are deleted; 0: at their expiry.
   * `plan`: each organization's plan sets the period (audit events), and the cutoff given is the run's
   * instant.
   */
  readonly keepDays: number | 'plan';
  /** Deletes at most about `limit` rows due at `cutoff`; fewer than `limit`: nothing more is due. */
  purgeBatch(cutoff: Date, limit: number): Promise<number>;
}

/** The built-in rules, over `purge` (`retentionPurge` on the worker pool). */
export function builtInRetentionRules(
  days: RetentionDays,
  purge: (kind: RetentionPurgeKind, cutoff: Date, limit: number) => Promise<number>,
): RetentionRule[] {
  const rule = (kind: RetentionPurgeKind, keepDays: number): RetentionRule => ({
    kind,
    keepDays,
    purgeBatch: (cutoff, limit) => purge(kind, cutoff, limit),
  });
  return [
    rule('sessions', days.sessions),
    rule('refresh_tokens', days.refreshTokens),
    rule('email_tokens', days.emailTokens),
    rule('invitations', days.invitations),
    rule('idempotency_keys', days.idempotencyKeys),
    // Export archives past their own expiry (EXPORT_RETENTION_HOURS, set when each was built).
    rule('exports', 0),
  ];
}

/** What one run deleted, per kind. */
export type RetentionCounts = Record<string, number>;

/**
 * Applies every rule: batches of RETENTION_BATCH until a batch comes back short, yielding to the event
 * loop between batches; then records one `retention.purged` event with the counts, the periods and the
 * run's instant in the platform chain (also when nothing was deleted: the run itself is evidence). A
 * rule that fails is logged and counted as `-1` (the others still run), and the run throws at the end
 * so graphile-worker retries it; a retry deletes only what is still due, so runs are idempotent.
 */
export async function runRetention(deps: {
  rules: readonly RetentionRule[];
  audit: (event: AuditEventInput) => Promise<unknown>;
  now?: () => Date;
  log: Logger;
}): Promise<RetentionCounts> {
  const now = (deps.now ?? (() => new Date()))();
  const counts: RetentionCounts = {};
  const failed: string[] = [];
  for (const rule of deps.rules) {
    const cutoff = rule.keepDays === 'plan' ? now : new Date(now.getTime() - rule.keepDays * 86_400_000);
    let total = 0;
    try {
      for (;;) {
        const n = await rule.purgeBatch(cutoff, RETENTION_BATCH);
        total += n;
        if (n < RETENTION_BATCH) break;
        await yieldToLoop();
      }
      counts[rule.kind] = total;
    } catch (err) {
      counts[rule.kind] = -1;
      failed.push(rule.kind);
      deps.log.error(
        { component: 'retention', kind: rule.kind, deleted: total, err },
        'retention purge failed',
      );
    }
  }
  await deps.audit({
    action: 'retention.purged',
    target: { type: 'retention_run', id: now.toISOString() },
    // A list, not an object keyed by kind: keys such as `refresh_tokens` would be redacted as secrets.
    metadata: {
      purged: deps.rules.map((r) => ({ kind: r.kind, deleted: counts[r.kind], keep_days: r.keepDays })),
    },
  });
  deps.log.info({ component: 'retention', counts }, 'retention applied');
  if (failed.length > 0) throw new Error(`retention purge failed for: ${failed.join(', ')}`);
  return counts;
}

/** The job handler of RETENTION_TASK. */
export function createRetentionJobHandler(deps: Parameters<typeof runRetention>[0]): JobHandler {
  return async () => {
    await runRetention(deps);
  };
}
