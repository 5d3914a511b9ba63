import type { Logger } from 'pino';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { KeyRotation } from '../../platform/tenant-keys/rotation.js';
import type { KeyVault } from '../../platform/tenant-keys/key-vault.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';

/** Re-encrypts one organization's sealed columns under its active data key (queued by a rotation). */
export const REENCRYPT_TASK = 'tenant_keys.reencrypt';
/** Re-wraps every data key under the current KEK (queued by a platform administrator). */
export const REWRAP_TASK = 'tenant_keys.rewrap';
/** Hourly: finishes any organization rotation whose job was lost or had to wait (cron, unsealed). */
export const ROTATION_SWEEP_TASK = 'tenant_keys_sweep';
export const ROTATION_SWEEP_CRONTAB = `53 * * * * ${ROTATION_SWEEP_TASK}\n`;

/** Queues the organization's re-encryption in the caller's transaction (one pending job per organization). */
export function enqueueReencryption(db: TenantDb, organizationId: string, runAt?: Date): Promise<void> {
  return enqueueJob(
    db,
    REENCRYPT_TASK,
    { tenantId: organizationId, payload: { organizationId } },
    { jobKey: 'tenant-keys-reencrypt', ...(runAt ? { runAt } : {}) },
  );
}

/** Queues the KEK re-wrap (no tenant) in the caller's transaction. */
export function enqueueRewrap(db: Kysely<Database>): Promise<void> {
  return enqueueJob(db, REWRAP_TASK, { tenantId: null, payload: {} }, { jobKey: 'tenant-keys-rewrap' });
}

/** The handlers the worker runs; each run is resumable (see rotation.ts). */
export function tenantKeyJobHandlers(deps: {
  rotation: KeyRotation;
  vault: KeyVault;
  withTenant: WithTenant;
  log: Logger;
}): Record<string, JobHandler> {
  const runOrganization = async (organizationId: string) => {
    const result = await deps.rotation.reencryptOrganization(organizationId);
    if (result.retryAt) {
      // Retired versions wait for every instance's key cache to let go: a later run destroys them.
      await deps.withTenant(organizationId, (db) => enqueueReencryption(db, organizationId, result.retryAt));
    }
    return result;
  };
  return {
    [REENCRYPT_TASK]: async (_payload, job) => {
      if (!job.tenantId) throw new Error(`${REENCRYPT_TASK}: a job without its organization`);
      const result = await runOrganization(job.tenantId);
      deps.log.info(
        {
          reencrypted: result.reencrypted,
          destroyed_versions: result.destroyedVersions,
          pending_versions: result.pendingVersions,
        },
        'organization data key re-encryption run',
      );
    },
    [REWRAP_TASK]: async () => {
      const progress = await deps.rotation.rewrapAll();
      deps.log.info(
        {
          rewrapped: progress.rewrapped,
          failed: progress.failed,
          total: progress.total,
          done: progress.done,
        },
        'KEK rotation: data keys re-wrapped under the current KEK',
      );
    },
    [ROTATION_SWEEP_TASK]: async () => {
      let after: string | null = null;
      for (;;) {
        const orgs = await deps.vault.organizationsWithRetired(after, 100);
        for (const org of orgs) {
          try {
            await runOrganization(org);
          } catch (err) {
            deps.log.warn({ tenant_id: org, err: (err as Error).name }, 'key rotation sweep: run failed');
          }
        }
        if (orgs.length < 100) break;
        after = orgs.at(-1)!;
      }
    },
  };
}
