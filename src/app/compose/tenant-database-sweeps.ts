import type pg from 'pg';
import type { Logger } from 'pino';
import { createPool } from '../../platform/db/pool.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { RetentionDays } from '../../platform/config-gdpr.js';
import type { AuditEventInput } from '../../platform/audit/chain.js';
import { retentionPurge } from '../../platform/tenancy/privileged-gdpr.js';
import { auditChainsToCheckpoint, auditOrganizationsPending } from '../../platform/tenancy/privileged.js';
import {
  tenantDatabaseAuditPurge,
  tenantDatabaseChainsToCheckpoint,
} from '../../platform/tenancy/privileged-tenant-audit.js';
import { auditRetentionPurge, webhookRetentionPurge } from '../../platform/tenancy/privileged-retention.js';
import { builtInRetentionRules, type RetentionRule } from '../../modules/retention/retention.js';
import { auditRetentionRule } from '../../modules/retention/audit-retention.js';
import { webhookRetentionRules } from '../../modules/webhooks/webhook-retention.js';

/**
 * The job worker's cross-tenant sweeps (audit checkpoints, the audit seal sweep, retention) on the
 * control database AND on every tenant database of `database` placements (TENANT_DATABASES) that has a
 * `workerUrl`: each sweep's named worker functions exist in every migrated database, so the same sweep
 * runs on each database's worker role, on a small pool of its own (2 connections). A tenant database
 * without a `workerUrl` is not swept (logged at start); one that fails a run, or does not end it in time,
 * is logged and skipped, and the control database's run is unaffected. Closed after the job worker has stopped.
 */

/** How long a tenant database's page of a merged listing may take before it is left out of that page. */
const LISTING_TIMEOUT_MS = 2_000;
/** How long a job's run on one tenant database may take before the databases after it are run (its run is
 *  left to end on its own; a silent server is not noticed by the pool once connected). */
const RUN_TIME_LIMIT_MS = 10 * 60_000;

/** A tenant database the sweeps run on. */
export interface SweptDatabase {
  /** Its key in TENANT_DATABASES. */
  readonly key: string;
  /** A small pool of its worker role (`workerUrl`). */
  readonly pool: pg.Pool;
  /** The job's logger with `tenant_database: key`. */
  readonly log: Logger;
}

/** Where one run of a sweep runs: the control database (`database` undefined) or a tenant database. */
export interface SweepTarget {
  readonly pool: pg.Pool;
  readonly log: Logger;
  readonly database?: string;
  /** The control database's worker pool (the same as `pool` on the control database): what a tenant
   *  database's sweep asks about its organizations' plans. */
  readonly control: pg.Pool;
}

/** A listing of organizations by id, keyset-paged by id (`after` exclusive, ascending). */
export type OrganizationListing = (after: string | null, limit: number) => Promise<string[]>;

export interface TenantDatabaseSweeps {
  /** The swept tenant databases (those with a `workerUrl`). */
  readonly databases: readonly SweptDatabase[];
  /**
   * A job handler running `handlerOn`'s handler on the control database, then on each tenant database in
   * turn. A tenant database's failure is logged and skipped; the control database's is thrown after the
   * tenant databases ran (graphile-worker retries the job). A tenant database whose run has not ended
   * within 10 minutes (`runTimeLimitMs`: one that accepted the connection and went silent) is left for
   * this run, its run left to end on its own and not started again by a later run meanwhile (logged at
   * most once a minute), and the databases after it run.
   */
  everywhere(what: string, handlerOn: (target: SweepTarget) => JobHandler): JobHandler;
  /**
   * One listing over the control database and every tenant database: each is asked for the page after
   * `after`, and the first `limit` ids of them all (ids are unique across databases: an organization's
   * placed rows are in one of them) make the page, so pages and cursors work as on one database. A
   * tenant database that fails or does not answer within 2 s is left out of that page (logged at most once
   * a minute; not asked again while its listing still runs); the control database's failure throws.
   */
  merged(what: string, listingOn: (target: SweepTarget) => OrganizationListing): OrganizationListing;
  /** Ends the tenant databases' pools. */
  close(): Promise<void>;
}

/** Opens the sweeps' pools of the tenant databases with a `workerUrl`; logs the others. */
export function openTenantDatabaseSweeps(opts: {
  controlPool: pg.Pool;
  tenantDatabases?: { databases: Record<string, { workerUrl?: string }> } | undefined;
  log: Logger;
  /** The time limit of a job's run on one tenant database (`everywhere`); 10 minutes unless given. */
  runTimeLimitMs?: number;
}): TenantDatabaseSweeps {
  const runTimeLimitMs = opts.runTimeLimitMs ?? RUN_TIME_LIMIT_MS;
  const databases = Object.entries(opts.tenantDatabases?.databases ?? {}).flatMap(([key, d]) => {
    if (d.workerUrl === undefined) {
      opts.log.warn(
        { tenant_database: key },
        'audit checkpoints, seal sweep and retention: no workerUrl for this tenant database, not swept',
      );
      return [];
    }
    // createPool: a lost idle connection (the tenant server restarted) is discarded, never a crash.
    const pool = createPool({ url: d.workerUrl, max: 2, applicationName: `saasready-sweeps-${key}` });
    return [{ key, pool, log: opts.log.child({ tenant_database: key }) }];
  });
  const control: SweepTarget = { pool: opts.controlPool, log: opts.log, control: opts.controlPool };
  // A tenant database that is down fails every sweep (the seal sweep's: every 5 s): logged once a minute.
  const warned = new Map<string, number>();
  const warnAtMostEveryMinute = (target: SweepTarget, what: string, err: unknown) => {
    const now = Date.now();
    if (now - (warned.get(target.database ?? '') ?? -Infinity) < 60_000) return;
    warned.set(target.database ?? '', now);
    target.log.warn(
      { err: err as Error },
      `${what} of a tenant database failed (logged at most once a minute)`,
    );
  };
  const targets = (): SweepTarget[] => [
    control,
    ...databases.map((d) => ({ pool: d.pool, log: d.log, database: d.key, control: opts.controlPool })),
  ];

  return {
    databases,
    everywhere(what, handlerOn) {
      const handlers = targets().map((t) => ({ target: t, handler: handlerOn(t) }));
      // A tenant database's run still going (it hangs) is not started again: no pile-up of runs.
      const running = new Set<string>();
      return async (payload, job) => {
        let controlError: Error | undefined;
        for (const { target, handler } of handlers) {
          const key = target.database;
          if (key === undefined) {
            try {
              await handler(payload, job);
            } catch (err) {
              controlError = err instanceof Error ? err : new Error(`${what} failed: ${String(err)}`);
            }
            continue;
          }
          if (running.has(key)) {
            warnAtMostEveryMinute(target, what, new Error('its previous run has not ended'));
            continue;
          }
          running.add(key);
          const run = Promise.resolve()
            .then(() => handler(payload, job))
            .finally(() => running.delete(key));
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<'late'>((resolve) => {
            timer = setTimeout(() => resolve('late'), runTimeLimitMs);
          });
          try {
            if ((await Promise.race([run, late])) === 'late') {
              run.catch(() => {}); // its own failure, if it ends later, is this one
              warnAtMostEveryMinute(target, what, new Error(`no end in ${runTimeLimitMs} ms`));
            }
          } catch (err) {
            target.log.error({ err: err as Error }, `${what} of a tenant database failed`);
          } finally {
            clearTimeout(timer);
          }
        }
        if (controlError !== undefined) throw controlError;
      };
    },
    merged(what, listingOn) {
      const listings = targets().map((t) => ({ target: t, list: listingOn(t) }));
      // A tenant database's listing still running (it hangs) is not asked again: no pile-up of waits.
      const running = new Set<string>();
      return async (after, limit) => {
        const pages = await Promise.all(
          listings.map(async ({ target, list }) => {
            const key = target.database;
            if (key === undefined) return list(after, limit);
            if (running.has(key)) return [];
            running.add(key);
            const page = list(after, limit).finally(() => running.delete(key));
            // A tenant database that does not answer in time is left out of this page (and its
            // listing left to end on its own): it never holds back the control database's.
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<never>((_, reject) => {
              timer = setTimeout(
                () => reject(new Error(`no answer in ${LISTING_TIMEOUT_MS} ms`)),
                LISTING_TIMEOUT_MS,
              );
            });
            try {
              return await Promise.race([page, late]);
            } catch (err) {
              page.catch(() => {}); // its own failure, if it ends later, is this one
              warnAtMostEveryMinute(target, what, err);
              return [];
            } finally {
              clearTimeout(timer);
            }
          }),
        );
        if (pages.length === 1) return pages[0]!;
        // Lowercase canonical uuids sort as text as PostgreSQL sorts them as uuids.
        return [...new Set(pages.flat())].sort().slice(0, limit);
      };
    },
    async close() {
      await Promise.all(databases.map((d) => d.pool.end()));
    },
  };
}

/** The kinds of the built-in rules whose rows are global tables (users' sessions and tokens): the control
 *  database's only, so not asked of a tenant database. */
const CONTROL_ONLY_KINDS = new Set(['sessions', 'refresh_tokens', 'email_tokens']);

/**
 * The retention rules (docs/gdpr.md, "Retention") on `target`'s worker role: the built-in ones, webhook
 * deliveries and the outbox, audit events per plan. THE EXTENSION POINT of retention: a module with data
 * to expire adds its rule here. On a tenant database, the rules of global tables are left out, and the
 * audit events' rule takes each organization's retention from the control database (its plan, the grace
 * of a lowered one: `tenantDatabaseAuditPurge`, migration 0077), not from the organization row's copy
 * there (the default plan) nor that database's seeded plans.
 */
export function retentionRules(target: SweepTarget, days: RetentionDays): RetentionRule[] {
  const { pool } = target;
  const builtIn = builtInRetentionRules(days, (kind, cutoff, limit) =>
    retentionPurge(pool, kind, cutoff, limit),
  );
  return [
    ...(target.database === undefined ? builtIn : builtIn.filter((r) => !CONTROL_ONLY_KINDS.has(r.kind))),
    ...webhookRetentionRules(days.webhooks, (kind, cutoff, limit) =>
      webhookRetentionPurge(pool, kind, cutoff, limit),
    ),
    auditRetentionRule(
      target.database === undefined
        ? (now, after, limit) => auditRetentionPurge(pool, now, after, limit)
        : tenantDatabaseAuditPurge({
            controlWorker: target.control,
            tenantWorker: pool,
            database: target.database,
          }),
    ),
  ];
}

/**
 * The hourly checkpoint scan's listing on `target`: on a tenant database, against the retention in force
 * the control database computes for each organization placed there (migration 0077), the one signing
 * states, so a chain whose plan is not the default one is not listed again every hour.
 */
export function checkpointListing(target: SweepTarget, keyId: string): OrganizationListing {
  if (target.database === undefined)
    return (after, limit) => auditChainsToCheckpoint(target.pool, keyId, after, limit, target.log);
  return tenantDatabaseChainsToCheckpoint({
    controlWorker: target.control,
    tenantWorker: target.pool,
    database: target.database,
    keyId,
    log: target.log,
  });
}

/** A tenant database's `retention.purged` event names the database its run purged. */
export function retentionEventOf(target: SweepTarget, event: AuditEventInput): AuditEventInput {
  if (target.database === undefined) return event;
  return { ...event, metadata: { ...event.metadata, tenant_database: target.database } };
}

/** Below every organization id (ids are uuid v7 or v4). */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The seal sweep's listing of organizations with pending audit events on `target`. Its first page (no
 * `after`) also deletes the pending events of organizations without a row: deleted ones, on the control
 * database; in a tenant database the row is a copy, which a placement by hand may not have yet, so there it
 * always starts after the nil id and deletes nothing (a deleted organization's rows there go with its purge).
 */
export function sealSweepListing(target: SweepTarget): OrganizationListing {
  return (after, limit) =>
    auditOrganizationsPending(
      target.pool,
      target.database === undefined ? after : (after ?? NIL_UUID),
      limit,
      target.log,
    );
}
