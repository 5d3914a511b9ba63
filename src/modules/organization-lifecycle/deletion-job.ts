import type pg from 'pg';
import type { Logger } from 'pino';
import { draftEntry } from '../../platform/audit/draft.js';
import type { TenantKeyShredder } from '../../platform/tenant-keys/contract.js';
import type { DeletionWebhooks } from '../webhooks/deletion-event.js';
import {
  markOrganizationKeysShredded,
  organizationDeletionLedger,
  organizationDeletionsDue,
  purgeOrganizationBatch,
  recordOrganizationDeletion,
  startOrganizationDeletion,
  type DeletionWork,
} from '../../platform/tenancy/privileged-deletion.js';

/** The scheduled task that hard-deletes organizations whose deletion is due. */
export const ORG_DELETION_TASK = 'organization_deletion';
/** Every 5 minutes (graphile-worker crontab). */
export const ORG_DELETION_CRONTAB = `*/5 * * * * ${ORG_DELETION_TASK}\n`;
/** Rows deleted per transaction by default: small enough that no batch holds locks for long. */
export const DEFAULT_DELETION_BATCH = 5_000;
/** The system actor of deletion records in the platform chain. */
export const DELETION_ACTOR = 'organization-deletion';

export interface DeletionJobDeps {
  /** A pool on the worker role (the `worker_api` functions are its only). */
  readonly workerPool: pg.Pool;
  readonly shredder: TenantKeyShredder;
  readonly now: () => Date;
  /** Rows per purge transaction (default {@link DEFAULT_DELETION_BATCH}). */
  readonly batchSize?: number;
  /** Called once an organization's state changed (being deleted, deleted): drop it from every cache. */
  readonly organizationChanged: (orgId: string) => void;
  readonly log?: Logger;
  /** Called after each committed purge batch (tests stop the job here to prove it resumes). */
  readonly afterBatch?: (orgId: string, table: string, deleted: number) => void | Promise<void>;
  /**
   * The `organization.deleted` webhook (src/modules/webhooks/deletion-event.ts): announced once the
   * organization is out of reach, and the purge waits until its deliveries are final (at most the retry
   * schedule). Without it nothing is announced.
   */
  readonly webhooks?: DeletionWebhooks;
  /**
   * Drops the organization's placement schema, if it has one (emptied by the purge), as the schema's owner
   * role: `dropPlacementSchema` on the owner pool. Idempotent (a resumed run drops nothing twice). Without
   * it an emptied schema stays behind.
   */
  readonly dropPlacementSchema?: (orgId: string) => Promise<boolean>;
  /**
   * Empties what the organization's tenant database holds of it (a `database` placement: a region's),
   * in batches of `batch` rows, and returns how many rows it deleted there (0 when it is not placed in one).
   * Runs to its end before the control database's purge (which removes the placement record it is found by).
   */
  readonly purgeTenantDatabase?: (orgId: string, batch: number) => Promise<number>;
  /**
   * Whether the organization has a placement move under way (`placementMoveUnderWay`): while one runs its
   * rows may be in two databases, and the purge would find only one. The deletion waits (false, retried
   * by the next run) for the move to end or be aborted.
   */
  readonly moveUnderWay?: (orgId: string) => Promise<boolean>;
}

/**
 * One run of the deletion job: first every hard delete under way (a crashed run's, from the phase its
 * ledger records), then every organization pending deletion and due. Each organization on its own; one
 * that fails is logged at error level and retried by the next run. Returns the organizations it finished.
 */
export async function runOrganizationDeletions(deps: DeletionJobDeps): Promise<string[]> {
  const finished: string[] = [];
  const seen = new Set<string>();
  for (;;) {
    const work = (await organizationDeletionsDue(deps.workerPool, deps.now(), 100, deps.log)).filter(
      (w) => !seen.has(w.organizationId),
    );
    if (work.length === 0) break;
    for (const w of work) {
      seen.add(w.organizationId);
      try {
        if (await deleteOrganization(deps, w)) finished.push(w.organizationId);
      } catch (err) {
        deps.log?.error(
          { tenant_id: w.organizationId, phase: w.phase, err: (err as Error).message },
          'organization deletion failed: retried by the next run',
        );
      }
    }
  }
  if (finished.length > 0) deps.log?.info({ deleted: finished.length }, 'organizations deleted');
  return finished;
}

/**
 * Takes one organization from its current phase to the end: start (pending → suspended for deletion,
 * with its ledger) → purge in batches (each batch one transaction with its ledger counts) → the
 * organization row → its data keys destroyed → the deletion record in the platform chain. Every step is
 * recorded in the ledger in the transaction that does it, so a crash anywhere resumes at the step after
 * the last one committed. Before the first purge batch, the `organization.deleted` webhook is written to the
 * outbox and the purge waits for its deliveries: false while they are pending (the next run, within 5
 * minutes, looks again), as when the organization was no longer due (an owner cancelled).
 */
export async function deleteOrganization(deps: DeletionJobDeps, work: DeletionWork): Promise<boolean> {
  const orgId = work.organizationId;
  const pool = deps.workerPool;
  let phase = work.phase;
  if (phase === 'due') {
    if (!(await startOrganizationDeletion(pool, orgId, deps.now(), deps.log))) return false;
    deps.organizationChanged(orgId);
    phase = 'purging';
  }
  if (phase === 'purging') {
    if (await deps.moveUnderWay?.(orgId)) {
      deps.log?.warn(
        { tenant_id: orgId },
        'organization deletion waits: a placement move of the organization is under way (retried by the next run once it ends or is aborted)',
      );
      return false;
    }
    if (deps.webhooks && (await awaitingWebhooks(deps, deps.webhooks, orgId))) return false;
    const batch = deps.batchSize ?? DEFAULT_DELETION_BATCH;
    const elsewhere = (await deps.purgeTenantDatabase?.(orgId, batch)) ?? 0;
    if (elsewhere > 0) {
      deps.log?.info({ tenant_id: orgId, rows: elsewhere }, 'organization deletion: tenant database purged');
    }
    for (;;) {
      const { table, deleted } = await purgeOrganizationBatch(pool, orgId, batch);
      await deps.afterBatch?.(orgId, table, deleted);
      if (table === 'organizations') break;
    }
    deps.organizationChanged(orgId);
    phase = 'shredding';
  }
  if (phase === 'shredding') {
    // After the purge committed (the schema holds nothing of anyone else: it is this organization's).
    if (deps.dropPlacementSchema && (await deps.dropPlacementSchema(orgId))) {
      deps.log?.info({ tenant_id: orgId }, 'organization deletion: placement schema dropped');
    }
    const { destroyed } = await deps.shredder.destroyOrganizationKeys(orgId);
    await markOrganizationKeysShredded(pool, orgId, destroyed);
    phase = 'recording';
  }
  const ledger = await organizationDeletionLedger(pool, orgId);
  if (!ledger || ledger.phase === 'done') return true;
  const { entry, prefix, suffix, changesJson, metadataJson } = draftEntry(
    null,
    { kind: 'system', name: DELETION_ACTOR },
    `job:${ORG_DELETION_TASK}:${orgId}`,
    {
      action: 'organization.deleted',
      target: { type: 'organization', id: orgId },
      metadata: {
        slugSha256: ledger.slugSha256,
        requestedAt: ledger.requestedAt.toISOString(),
        dueAt: ledger.dueAt.toISOString(),
        startedAt: ledger.startedAt.toISOString(),
        rowCounts: ledger.rowCounts,
        keysDestroyed: ledger.keysDestroyed ?? 0,
      },
    },
  );
  await recordOrganizationDeletion(
    pool,
    orgId,
    [
      prefix,
      suffix,
      entry.id,
      entry.occurred_at,
      entry.actor.type,
      entry.actor.id,
      entry.action,
      entry.target.type,
      entry.target.id,
      entry.ip,
      entry.user_agent,
      entry.request_id,
      changesJson,
      metadataJson,
    ],
    deps.log,
  );
  deps.log?.info(
    { tenant_id: orgId, rows: ledger.rowCounts, keys_destroyed: ledger.keysDestroyed },
    'organization deleted',
  );
  return true;
}

/**
 * Before the purge's first batch: writes the organization's `organization.deleted` event (once) and tells
 * whether a delivery of it is still pending, within the wait limit after the start. Once a batch was
 * purged (a resumed run) it neither writes nor waits: the outbox may be partly gone.
 */
async function awaitingWebhooks(deps: DeletionJobDeps, hooks: DeletionWebhooks, orgId: string) {
  const ledger = await organizationDeletionLedger(deps.workerPool, orgId);
  if (!ledger || ledger.phase !== 'purging' || Object.keys(ledger.rowCounts).length > 0) return false;
  await hooks.announce(orgId, ledger);
  if (!(await hooks.pending(orgId))) return false;
  const waited = deps.now().getTime() - ledger.startedAt.getTime();
  if (waited < hooks.waitLimitMs) {
    deps.log?.info({ tenant_id: orgId }, 'organization deletion waits for its webhook deliveries');
    return true;
  }
  deps.log?.warn(
    { tenant_id: orgId, waited_ms: waited },
    'organization.deleted deliveries still pending past the retry schedule: purged anyway',
  );
  return false;
}
