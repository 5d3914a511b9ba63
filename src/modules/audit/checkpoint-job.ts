import type { Logger } from 'pino';
import type { JobHandler } from '../../platform/jobs/worker.js';

/** The recurring task that signs a checkpoint for every organization whose chain moved. */
export const CHECKPOINT_TASK = 'audit_checkpoint_all';
/** Hourly, at minute 7 (graphile-worker crontab: minute hour day month weekday task). */
export const CHECKPOINT_CRONTAB = `7 * * * * ${CHECKPOINT_TASK}\n`;

/**
 * Asks which chains moved since their last checkpoint (one named privileged query per 500 of them, so an
 * idle organization costs nothing) and signs a checkpoint for each, one tenant scope each. Scheduled by
 * graphile-worker's crontab, so with several instances it still runs once per hour.
 */
export function createCheckpointJobHandler(deps: {
  /** Organizations whose chain moved since their last checkpoint (`auditChainsToCheckpoint`). */
  chainsToCheckpoint: (after: string | null, limit: number) => Promise<string[]>;
  checkpointOrganization: (org: string) => Promise<boolean>;
  log: Logger;
}): JobHandler {
  return async () => {
    let after: string | null = null;
    let signed = 0;
    let failed = 0;
    for (;;) {
      const ids = await deps.chainsToCheckpoint(after, 500);
      for (const id of ids) {
        // One organization's failure must not leave the others unsigned for the hour.
        try {
          if (await deps.checkpointOrganization(id)) signed += 1;
        } catch (err) {
          failed += 1;
          deps.log.error({ tenant_id: id, err: (err as Error).message }, 'audit checkpoint failed');
        }
      }
      if (ids.length < 500) break;
      after = ids[ids.length - 1]!;
    }
    deps.log.info({ checkpoints_signed: signed, checkpoints_failed: failed }, 'audit checkpoints signed');
  };
}
