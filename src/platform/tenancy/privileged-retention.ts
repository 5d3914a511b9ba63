import type pg from 'pg';

/**
 * The named privileged paths of audit and webhook retention (issue 12, migration 0031), beside
 * privileged-gdpr.ts's. Each calls one SECURITY DEFINER function of the worker role that checks its own
 * contract in the database: refused inside a tenant scope, an instant not in the future, at most 10,000
 * rows a call, each call its own short transaction.
 */

/** Where an audit retention batch stopped: the cursor of the next call. */
export interface AuditRetentionBatch {
  /** The organization it stopped at. */
  readonly organizationId: string;
  /** Audit events deleted (of that organization). */
  readonly deleted: number;
  /** That organization may have more due: the next call starts with it again. */
  readonly more: boolean;
}

/**
 * One batch of the audit retention (`worker_api.app_retention_purge_audit`): for the first organization
 * after `after` (or at it, with `include`) whose plan sets an audit retention, deletes at most `limit`
 * events up to the newest signed checkpoint all of whose events are older than the plan's period (the
 * checkpoint kept, those below the last deleted event removed); null once past the last organization.
 */
export async function auditRetentionPurge(
  workerPool: pg.Pool,
  now: Date,
  after: { organizationId: string; include: boolean } | null,
  limit: number,
): Promise<AuditRetentionBatch | null> {
  const res = await workerPool.query<{ organization_id: string; deleted: number; more: boolean }>(
    'select organization_id, deleted, more from worker_api.app_retention_purge_audit($1, $2, $3, $4)',
    [now, after?.organizationId ?? null, after?.include ?? false, limit],
  );
  const row = res.rows[0];
  return row ? { organizationId: row.organization_id, deleted: row.deleted, more: row.more } : null;
}

/** What the webhook retention deletes (`worker_api.app_retention_purge_webhooks`'s kinds). */
export type WebhookRetentionKind = 'deliveries' | 'outbox';

/**
 * Deletes at most `limit` rows past `cutoff` and answers how many: `deliveries` that succeeded or went
 * dead before it (their attempts by cascade), or `outbox` events dispatched before it that no delivery
 * refers to any more.
 */
export async function webhookRetentionPurge(
  workerPool: pg.Pool,
  kind: WebhookRetentionKind,
  cutoff: Date,
  limit: number,
): Promise<number> {
  const res = await workerPool.query<{ n: number }>(
    'select worker_api.app_retention_purge_webhooks($1, $2, $3) as n',
    [kind, cutoff, limit],
  );
  return res.rows[0]?.n ?? 0;
}
