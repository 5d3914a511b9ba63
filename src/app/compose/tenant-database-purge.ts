import { createPool } from '../../platform/db/pool.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { purgeTenantDatabase } from '../../platform/tenancy/privileged-deletion.js';

/**
 * The tenant database part of an organization's deletion: nothing when it is not in a `database`
 * placement; else its rows there, as that database's worker role (`workerUrl` of TENANT_DATABASES, without
 * which the deletion fails and is retried, logged, until it is configured).
 */
export async function purgeInTenantDatabase(
  tenancy: Tenancy,
  opts: { tenantDatabases?: { databases: Record<string, { workerUrl?: string }> } },
  orgId: string,
  batch: number,
): Promise<number> {
  const target = await tenancy.router.resolve(orgId);
  if (target.directory === undefined) return 0;
  const workerUrl = opts.tenantDatabases?.databases[target.key]?.workerUrl;
  if (workerUrl === undefined) {
    throw new Error(
      `tenant database "${target.key}" has no workerUrl in TENANT_DATABASES: the deletion cannot purge it there`,
    );
  }
  const pool = createPool({ url: workerUrl, max: 1, applicationName: 'saasready-deletion' });
  try {
    return await purgeTenantDatabase(pool, orgId, batch);
  } finally {
    await pool.end();
  }
}
