import type pg from 'pg';
import type { Logger } from 'pino';
import type { AuditRetentionBatch } from './privileged-retention.js';

/**
 * The named privileged paths of audit retention and the checkpoint scan on a tenant database (migration
 * 0077): the control database says which organizations are placed there and the audit retention in force
 * for each (their plan and grace are the control database's), and the tenant database's functions are
 * given that answer instead of reading the organization row's copy there. Worker roles only; each function
 * refuses a call inside a tenant scope.
 */

/** At most this many organizations a page of the control database's listing (and a call given them). */
export const PLACED_PAGE = 1000;

/** An organization placed in a tenant database, as the control database sees it. */
export interface PlacedRetention {
  readonly organizationId: string;
  /** The audit retention in force (days); null: kept forever. */
  readonly retentionDays: number | null;
  /** Its deletion is pending (the deletion purge, not retention, removes its events). */
  readonly deleting: boolean;
}

/**
 * The organizations placed in the tenant database `database`, by id after `after` (or at it, with
 * `include`), with the audit retention in force at `now` (`worker_api.app_retention_audit_placed`, on the
 * control database's worker role).
 */
export async function placedAuditRetentions(
  controlWorker: pg.Pool,
  database: string,
  now: Date,
  after: { organizationId: string; include: boolean } | null,
  limit = PLACED_PAGE,
): Promise<PlacedRetention[]> {
  const res = await controlWorker.query<{
    organization_id: string;
    retention_days: number | null;
    deleting: boolean;
  }>(
    `select organization_id, retention_days, deleting
       from worker_api.app_retention_audit_placed($1, $2, $3, $4, $5)`,
    [database, now, after?.organizationId ?? null, after?.include ?? false, limit],
  );
  return res.rows.map((r) => ({
    organizationId: r.organization_id,
    retentionDays: r.retention_days,
    deleting: r.deleting,
  }));
}

/**
 * One batch of the audit retention of a tenant database (`worker_api.app_retention_purge_audit_given`) over
 * the organizations given, with their retention (an organization being deleted is given none): as
 * `auditRetentionPurge`, but null when none of them had anything due.
 */
export async function auditRetentionPurgeGiven(
  tenantWorker: pg.Pool,
  now: Date,
  after: { organizationId: string; include: boolean } | null,
  limit: number,
  given: readonly PlacedRetention[],
): Promise<AuditRetentionBatch | null> {
  const res = await tenantWorker.query<{ organization_id: string; deleted: number; more: boolean }>(
    `select organization_id, deleted, more
       from worker_api.app_retention_purge_audit_given($1, $2, $3, $4, $5::uuid[], $6::integer[])`,
    [
      now,
      after?.organizationId ?? null,
      after?.include ?? false,
      limit,
      given.map((g) => g.organizationId),
      given.map((g) => (g.deleting ? null : g.retentionDays)),
    ],
  );
  const row = res.rows[0];
  return row ? { organizationId: row.organization_id, deleted: row.deleted, more: row.more } : null;
}

/**
 * The audit retention purge of the tenant database `database` (the `AuditRetentionPurge` of
 * auditRetentionRule): walks the control database's listing of the organizations placed there, page by
 * page, and purges each page's with their retention there; null once past the last one.
 */
export function tenantDatabaseAuditPurge(opts: {
  controlWorker: pg.Pool;
  tenantWorker: pg.Pool;
  database: string;
}) {
  return async (
    now: Date,
    after: { organizationId: string; include: boolean } | null,
    limit: number,
  ): Promise<AuditRetentionBatch | null> => {
    let from = after;
    for (;;) {
      const page = await placedAuditRetentions(opts.controlWorker, opts.database, now, from);
      if (page.length === 0) return null;
      const batch = await auditRetentionPurgeGiven(opts.tenantWorker, now, from, limit, page);
      if (batch) return batch;
      if (page.length < PLACED_PAGE) return null;
      from = { organizationId: page[page.length - 1]!.organizationId, include: false };
    }
  };
}

/**
 * The hourly checkpoint scan of the tenant database `database` (`chainsToCheckpoint` of the checkpoint
 * job): the chains there whose head has no checkpoint stating the retention in force that the control
 * database computes (`worker_api.app_priv_audit_chains_to_checkpoint_given`), by id after `after`, at
 * most `limit`, the control database's listing read page by page alongside.
 */
export function tenantDatabaseChainsToCheckpoint(opts: {
  controlWorker: pg.Pool;
  tenantWorker: pg.Pool;
  database: string;
  keyId: string;
  log?: Logger;
}) {
  return async (after: string | null, limit: number): Promise<string[]> => {
    opts.log?.info(
      { privileged_operation: 'audit_chains_to_checkpoint_given', after, limit },
      'privileged operation',
    );
    const ids: string[] = [];
    let from = after;
    for (;;) {
      const page = await placedAuditRetentions(
        opts.controlWorker,
        opts.database,
        new Date(),
        from === null ? null : { organizationId: from, include: false },
      );
      // The last page leaves the range open: chains of organizations the control database does not list
      // as placed here are still scanned (their head needs a checkpoint stating any retention).
      const until = page.length === PLACED_PAGE ? page[page.length - 1]!.organizationId : null;
      const res = await opts.tenantWorker.query<{ organization_id: string }>(
        `select organization_id from worker_api.app_priv_audit_chains_to_checkpoint_given(
           $1, $2, $3, $4, $5::uuid[], $6::integer[])`,
        [
          opts.keyId,
          from,
          until,
          limit - ids.length,
          page.map((p) => p.organizationId),
          page.map((p) => p.retentionDays),
        ],
      );
      ids.push(...res.rows.map((r) => r.organization_id));
      if (ids.length >= limit || until === null) return ids;
      from = until;
    }
  };
}
