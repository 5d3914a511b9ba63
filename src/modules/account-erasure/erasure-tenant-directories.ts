import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type pg from 'pg';
import type { Database } from '../../platform/db/schema.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import * as repo from './erasure.repository.js';

/**
 * The SCIM directory records an erased person left in tenant databases (docs/erasure.md, "Organizations
 * in a tenant database"): organizations of `database` placements keep `scim_users` there, where the
 * erasure's own lookup (the control database's, proven by the person's credential or a platform
 * administrator's session) does not reach. The erasure queues this job before it anonymizes the account
 * (one per person: a retried erasure queues the same job again, not a second one); the worker asks each
 * tenant database, as its worker role, which organizations hold a record of the person
 * (`worker_api.app_priv_erasure_tenant_directory`, migration 0075) and deletes each in that organization's
 * own scope, under its lock, as the erasure deletes the others.
 */
export const ERASURE_TENANT_DIRECTORIES_TASK = 'erasure.tenant_directories';

interface Payload {
  readonly userId: string;
  /** The tenant databases the queuing instance is configured with: a worker that lacks one of them fails
   *  the job (retried, by any instance) instead of completing it without that database's records. Absent
   *  from jobs queued before it was added: the worker's own databases then. */
  readonly databases?: readonly string[];
}

/** Queues the tenant databases' part of `userId`'s erasure (outside any tenant scope), naming `databases`. */
export function queueTenantDirectoryErasure(
  db: Kysely<Database>,
  userId: string,
  databases: readonly string[],
): Promise<void> {
  return enqueueJob(
    db,
    ERASURE_TENANT_DIRECTORIES_TASK,
    { tenantId: null, payload: { userId, databases } satisfies Payload },
    { jobKey: `erasure-tenant-directories:${userId}` },
  );
}

/**
 * Deletes the person's directory record (and their directory group memberships) in one organization, in
 * its scope, under the organization row's lock (the lock every SCIM change takes). True when one was there.
 */
export function eraseDirectoryRecord(
  withTenant: WithTenant,
  orgId: string,
  userId: string,
): Promise<boolean> {
  return withTenant(orgId, async (tdb) => {
    await repo.lockOrganization(tdb, orgId);
    return repo.deleteDirectoryRecord(tdb, orgId, userId);
  });
}

/** A tenant database the job asks: its key and a pool on its worker role (none: the job fails, retried). */
export interface TenantDirectorySource {
  readonly key: string;
  /** Opens a pool on the database's worker role; undefined when the configuration gives no `workerUrl`. */
  readonly open: (() => pg.Pool) | undefined;
}

export function createTenantDirectoryErasureHandler(deps: {
  readonly withTenant: WithTenant;
  readonly databases: readonly TenantDirectorySource[];
  /** The key of the tenant database an organization is placed in now (null: not a `database` placement). */
  readonly placedIn: (orgId: string) => Promise<string | null>;
  /** Whether the organization has a placement move under way: its records may be in two databases while
   *  the router answers one, so that database's search fails (the job is retried) until the move ends. */
  readonly moveUnderWay?: (orgId: string) => Promise<boolean>;
  /** Whether the account is erased (the job never deletes the records of an account that is not). */
  readonly isErased: (userId: string) => Promise<boolean>;
  readonly log: Logger;
}): JobHandler {
  return async (raw) => {
    const payload = raw as Partial<Payload> | null;
    const userId = payload?.userId;
    if (typeof userId !== 'string') throw new Error(`${ERASURE_TENANT_DIRECTORIES_TASK}: no user id`);
    if (!(await deps.isErased(userId))) {
      deps.log.warn({ user: userId }, 'erasure: tenant databases not searched, the account is not erased');
      return;
    }
    // Every database is searched on every attempt: one that is down or not configured fails the job
    // (retried) after the others were searched, so it holds back only its own records.
    // A database the queuing instance named that this one is not configured with (a configuration change
    // rolling out) counts as not searched.
    const failed = (Array.isArray(payload?.databases) ? payload.databases : []).filter(
      (key) => typeof key !== 'string' || !deps.databases.some((d) => d.key === key),
    );
    for (const key of failed) {
      deps.log.error(
        { tenant_database: key, user: userId },
        'erasure: tenant database not searched, not configured on this instance',
      );
    }
    let deleted = 0;
    for (const source of deps.databases) {
      try {
        deleted += await searchOne(source, userId);
      } catch (err) {
        failed.push(source.key);
        deps.log.error(
          { err, tenant_database: source.key, user: userId },
          'erasure: tenant database not searched',
        );
      }
    }
    deps.log.info(
      { user: userId, directory_records: deleted, tenant_databases: deps.databases.length, failed },
      'erasure: tenant databases searched for directory records',
    );
    if (failed.length > 0) {
      throw new Error(
        `${ERASURE_TENANT_DIRECTORIES_TASK}: tenant databases not searched: ${failed.join(', ')}`,
      );
    }
  };

  /** The records of one tenant database's organizations placed there; how many were deleted. */
  async function searchOne(source: TenantDirectorySource, userId: string): Promise<number> {
    if (source.open === undefined) throw new Error('no workerUrl in TENANT_DATABASES');
    const pool = source.open();
    let orgs: string[];
    try {
      const res = await pool.query<{ organization_id: string }>(
        'select organization_id from worker_api.app_priv_erasure_tenant_directory($1::uuid)',
        [userId],
      );
      orgs = res.rows.map((r) => r.organization_id);
    } finally {
      await pool.end();
    }
    let deleted = 0;
    for (const orgId of orgs) {
      // Only where the organization lives now: a row of an organization placed elsewhere (a leftover of
      // a placement by hand) is not its directory, and its scope would search the organization's own.
      if (await deps.moveUnderWay?.(orgId)) {
        throw new Error(
          `organization ${orgId} has a placement move under way: searched again once it has ended`,
        );
      }
      const key = await deps.placedIn(orgId);
      if (key !== source.key) {
        deps.log.warn(
          { tenant_database: source.key, organization: orgId, placed_in: key },
          'erasure: a directory record of an organization not placed in this tenant database, left',
        );
        continue;
      }
      if (await eraseDirectoryRecord(deps.withTenant, orgId, userId)) deleted += 1;
    }
    return deleted;
  }
}
