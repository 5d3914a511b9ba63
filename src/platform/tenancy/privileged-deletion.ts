import { sql } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { PlatformScope } from './platform-scope.js';

/**
 * The named privileged paths of organization deletion (migration 0026, docs/organization-lifecycle.md):
 * the worker role's deletion job (`worker_api.app_priv_deletion_*`, outside any tenant scope) and the
 * platform administrators' list and expedite (platform scope of a live session). Each call is logged as a
 * privileged operation.
 */

/** An organization the deletion job works on: `due` (pending, due) or a ledger phase under way. */
export interface DeletionWork {
  readonly organizationId: string;
  readonly phase: 'due' | 'purging' | 'shredding' | 'recording';
}

/** Hard deletes under way (any phase before done) first, then organizations pending and due at `now`. */
export async function organizationDeletionsDue(
  workerPool: pg.Pool,
  now: Date,
  limit: number,
  log?: Logger,
): Promise<DeletionWork[]> {
  log?.debug({ privileged_operation: 'org_deletions_due', limit }, 'privileged operation');
  const res = await workerPool.query<{ organization_id: string; phase: DeletionWork['phase'] }>(
    'select organization_id, phase from worker_api.app_priv_deletion_due($1, $2)',
    [now, limit],
  );
  return res.rows.map((r) => ({ organizationId: r.organization_id, phase: r.phase }));
}

/** Starts the hard delete of a due organization (`suspended` for `deletion`, its ledger row); false when
 *  it is no longer pending and due (an owner cancelled). */
export async function startOrganizationDeletion(
  workerPool: pg.Pool,
  orgId: string,
  now: Date,
  log?: Logger,
): Promise<boolean> {
  log?.info({ privileged_operation: 'org_deletion_start', org: orgId }, 'privileged operation');
  const res = await workerPool.query<{ started: boolean }>(
    'select worker_api.app_priv_deletion_start($1, $2) as started',
    [orgId, now],
  );
  return res.rows[0]?.started === true;
}

/** One batch of the purge, committed with the ledger's counts: the table and how many rows went
 *  (`organizations` once the organization row itself went: the purge is complete). */
export async function purgeOrganizationBatch(
  workerPool: pg.Pool,
  orgId: string,
  limit: number,
): Promise<{ table: string; deleted: number }> {
  const res = await workerPool.query<{ table_name: string; deleted: string }>(
    'select table_name, deleted from worker_api.app_priv_deletion_purge($1, $2)',
    [orgId, limit],
  );
  const row = res.rows[0];
  if (!row) throw new Error('the organization purge returned no row');
  return { table: row.table_name, deleted: Number(row.deleted) };
}

/** The organization's data keys are destroyed: its ledger moves on to the deletion record. */
export async function markOrganizationKeysShredded(
  workerPool: pg.Pool,
  orgId: string,
  destroyed: number,
): Promise<boolean> {
  const res = await workerPool.query<{ ok: boolean }>(
    'select worker_api.app_priv_deletion_shredded($1, $2) as ok',
    [orgId, destroyed],
  );
  return res.rows[0]?.ok === true;
}

/** What the deletion ledger holds of one organization (read at the record step). */
export interface DeletionLedger {
  readonly slugSha256: string;
  readonly requestedAt: Date;
  readonly dueAt: Date;
  readonly startedAt: Date;
  readonly rowCounts: Record<string, number>;
  readonly keysDestroyed: number | null;
}

/** The ledger of one organization's hard delete (null when there is none). */
export async function organizationDeletionLedger(
  workerPool: pg.Pool,
  orgId: string,
): Promise<(DeletionLedger & { phase: string }) | null> {
  const res = await workerPool.query<{
    slug_sha256: string;
    requested_at: Date;
    due_at: Date;
    started_at: Date;
    phase: string;
    row_counts: Record<string, number>;
    keys_destroyed: number | null;
  }>('select * from worker_api.app_priv_deletion_ledger($1)', [orgId]);
  const r = res.rows[0];
  if (!r) return null;
  return {
    slugSha256: r.slug_sha256,
    requestedAt: r.requested_at,
    dueAt: r.due_at,
    startedAt: r.started_at,
    phase: r.phase,
    rowCounts: r.row_counts,
    keysDestroyed: r.keys_destroyed,
  };
}

/**
 * Appends the deletion record (`organization.deleted`, actor system `organization-deletion`) to the
 * platform chain and marks the ledger done, in one transaction. `args` are the 14 arguments of the
 * platform chain's append (`draftEntry`): prefix, suffix, id, occurred_at, actor type and id, action,
 * target type and id, ip, user agent, request id, changes, metadata.
 */
export async function recordOrganizationDeletion(
  workerPool: pg.Pool,
  orgId: string,
  args: readonly unknown[],
  log?: Logger,
): Promise<number> {
  log?.info({ privileged_operation: 'org_deletion_record', org: orgId }, 'privileged operation');
  const res = await workerPool.query<{ seq: string }>(
    `select worker_api.app_priv_deletion_record($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
       $14::jsonb, $15::jsonb) as seq`,
    [orgId, ...args],
  );
  return Number(res.rows[0]?.seq);
}

/** A row of the platform administrators' list of organizations pending deletion. */
export interface PendingDeletionRow {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  members: string;
  /** `pending_deletion`, or `deleting` while the hard delete runs. */
  lifecycle_state: 'pending_deletion' | 'deleting';
  deletion_requested_at: Date;
  deletion_due_at: Date;
}

/** Organizations pending deletion (or being deleted), soonest due first, after (due, id). Contract: the
 *  platform scope of a platform administrator's live session. */
export async function platformOrganizationsPendingDeletion(
  scope: PlatformScope,
  after: { due: Date; id: string } | null,
  limit: number,
): Promise<PendingDeletionRow[]> {
  const res = await sql<PendingDeletionRow>`select * from app_priv_platform_organizations_pending_deletion(
      ${after?.due ?? null}::timestamptz, ${after?.id ?? null}::uuid, ${limit})`.execute(scope);
  return res.rows;
}

/** What an expedite found: none (no such organization), or its state, whether the typed slug matched,
 *  and the due time before and after (equal when nothing changed). */
export interface ExpediteOutcome {
  lifecycle_state: 'active' | 'suspended' | 'pending_deletion' | 'deleting';
  slug_matches: boolean;
  due_before: Date | null;
  due_after: Date | null;
}

/** Makes a pending deletion due now, confirmed by the organization's slug. Contract: the platform scope. */
export async function expediteOrganizationDeletion(
  scope: PlatformScope,
  orgId: string,
  slug: string,
): Promise<ExpediteOutcome | null> {
  const res = await sql<ExpediteOutcome>`select * from app_platform_organization_expedite_deletion(
      ${orgId}::uuid, ${slug})`.execute(scope);
  return res.rows[0] ?? null;
}

/**
 * Empties an organization's rows in a TENANT database (its `database` placement), batch by batch in foreign
 * key order, then its row's copy there (`worker_api.app_priv_tenant_database_purge`, migration 0071, the
 * worker role's; refused on the organization's control database). Returns the rows deleted.
 */
export async function purgeTenantDatabase(
  workerPool: pg.Pool,
  orgId: string,
  batch: number,
): Promise<number> {
  let total = 0;
  for (;;) {
    const res = await workerPool.query<{ table_name: string; deleted: string }>(
      'select table_name, deleted from worker_api.app_priv_tenant_database_purge($1, $2)',
      [orgId, batch],
    );
    const row = res.rows[0];
    total += Number(row?.deleted ?? 0);
    if (!row || row.table_name === 'organizations') return total;
  }
}

/** Whether the organization has a placement move under way (migration 0076): its rows may be in two
 *  databases while it runs, so its deletion waits for it to end or be aborted. */
export async function placementMoveUnderWay(pool: pg.Pool, orgId: string): Promise<boolean> {
  const res = await pool.query<{ w: boolean }>(
    'select worker_api.app_priv_deletion_move_under_way($1) as w',
    [orgId],
  );
  return res.rows[0]?.w === true;
}
