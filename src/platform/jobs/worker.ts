import { run, Logger, type Runner, type Task, type TaskList } from 'graphile-worker';
import type pg from 'pg';
import type { Logger as Pino } from 'pino';
import { runWithContext } from '../tenancy/context.js';
import { createJobPayloadBox, JobPayloadError, openJobPayload, type OpenedJob } from './payload-seal.js';

/** A job handler: receives the opened payload; runs inside the job's request context. */
export type JobHandler = (
  payload: unknown,
  job: { tenantId: string | null; attempt: number; id: string },
) => Promise<void>;

export interface JobWorker {
  stop(): Promise<void>;
}

/** The recurring task that deletes what the queue must not keep (see {@link purgeJobs}). */
export const PURGE_TASK = 'jobs_purge';
/** Hourly, at minute 17 (graphile-worker crontab: minute hour day month weekday task). */
export const PURGE_CRONTAB = `17 * * * * ${PURGE_TASK}\n`;

/**
 * Deletes, as the worker role, every job that may not stay: permanently failed ones (graphile-worker
 * keeps them forever otherwise, with their payload) and any whose sealed payload expired (never run,
 * worthless). Jobs being worked on (locked) are left to finish. Returns how many went.
 */
export async function purgeJobs(pool: pg.Pool): Promise<{ permafailed: number; expired: number }> {
  // Rows another transaction holds (a worker failing or completing its batch, another instance's purge)
  // are skipped, not waited for: the purge never waits on a row lock, so it is in no deadlock cycle, and
  // what it skipped goes at the next run.
  const permafailed = await pool.query(
    `delete from graphile_worker._private_jobs where id in (
       select id from graphile_worker._private_jobs
        where attempts >= max_attempts and locked_at is null
        for update skip locked)`,
  );
  const expired = await pool.query(
    `delete from graphile_worker._private_jobs where id in (
       select id from graphile_worker._private_jobs
        where locked_at is null and json_typeof(payload->'exp') = 'number'
          and (payload->>'exp')::double precision <= extract(epoch from now())
        for update skip locked)`,
  );
  return { permafailed: permafailed.rowCount ?? 0, expired: expired.rowCount ?? 0 };
}

/** A job graphile-worker's crontab queued: its payload is only the `_cron` schedule, nothing sealed. */
function isCronPayload(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  return Object.keys(raw).every((k) => k === '_cron');
}

/**
 * Runs graphile-worker on a pool of the WORKER role (the runtime role cannot reach the queue). Before a
 * handler runs, the job's payload is opened with the key derived from `kek`; an expired one is dropped
 * unopened (its links are dead), one that does not open (altered, or moved to another job key, task,
 * tenant or expiry) fails the job permanently at once, and the purge deletes it. Each job re-enters the context it
 * was queued in (tenant, request id) so its log lines carry them; handlers that touch tenant data call
 * `withTenant(job.tenantId, ...)` on the runtime tenancy themselves. The hourly {@link PURGE_TASK} is
 * always scheduled.
 */
export async function startJobWorker(opts: {
  /** A pool on the worker role. */
  pool: pg.Pool;
  /** The KEK; job payloads are sealed under a key derived from it. */
  kek: Buffer;
  /** Earlier KEKs (KEK_PREVIOUS): payloads queued before a KEK rotation still open. */
  previousKeks?: readonly Buffer[];
  handlers: Record<string, JobHandler>;
  log: Pino;
  concurrency?: number;
  pollIntervalMs?: number;
  /** graphile-worker crontab lines of the handlers' recurring tasks (queued unsealed: `_cron` only). */
  crontab?: string;
  /** Runs (and schedules) the hourly queue purge (default true; false for a second runner on the queue). */
  purge?: boolean;
}): Promise<JobWorker> {
  const box = createJobPayloadBox(opts.kek, opts.previousKeks);
  const recurring = new Set(
    (opts.crontab ?? '')
      .split('\n')
      .map((line) => line.trim().split(/\s+/)[5])
      .filter((t): t is string => !!t && !t.startsWith('#')),
  );
  const taskList: TaskList = {};
  for (const [name, handler] of Object.entries(opts.handlers)) {
    const task: Task = async (raw, helpers) => {
      let job: OpenedJob | 'expired';
      if (recurring.has(name) && isCronPayload(raw)) {
        job = { tenantId: null, requestId: null, payload: raw };
      } else {
        try {
          job = openJobPayload(box, name, raw, Date.now(), helpers.job.key ?? null);
        } catch (err) {
          if (!(err instanceof JobPayloadError)) throw err;
          // Altered, moved to another key, sealed with another key: it will never open. Fail it for good
          // now (no retries); the purge deletes permanently failed jobs.
          await opts.pool.query(
            'update graphile_worker._private_jobs set max_attempts = attempts where id = $1',
            [helpers.job.id],
          );
          opts.log.error(
            { component: 'jobs', task: name, job_id: helpers.job.id },
            'job payload cannot be opened: failed permanently',
          );
          throw err;
        }
      }
      if (job === 'expired') {
        opts.log.warn(
          { component: 'jobs', task: name, job_id: helpers.job.id },
          'job payload expired: dropped',
        );
        return;
      }
      const { tenantId, requestId, payload } = job;
      await runWithContext(
        {
          requestId: requestId ?? `job:${helpers.job.id}`,
          tenantId: tenantId ?? undefined,
          principal: { kind: 'system', name: `job:${name}` },
        },
        () => handler(payload, { tenantId, attempt: helpers.job.attempts, id: helpers.job.id }),
      );
    };
    taskList[name] = task;
  }
  const purge = opts.purge !== false;
  if (purge) {
    taskList[PURGE_TASK] = async () => {
      const purged = await purgeJobs(opts.pool);
      opts.log.info({ component: 'jobs', ...purged }, 'job queue purged');
    };
  }
  const logger = new Logger((scope) => (level, message, meta) => {
    const fields = { component: 'jobs', ...scope, ...(meta ?? {}) };
    const lvl = String(level);
    if (lvl === 'error') opts.log.error(fields, message);
    else if (lvl === 'warning') opts.log.warn(fields, message);
    else opts.log.debug(fields, message);
  });
  const runner: Runner = await run({
    pgPool: opts.pool,
    taskList,
    concurrency: opts.concurrency ?? 2,
    pollInterval: opts.pollIntervalMs ?? 1000,
    noHandleSignals: true,
    crontab: `${opts.crontab ?? ''}${purge ? PURGE_CRONTAB : ''}`,
    logger,
  });
  return { stop: () => runner.stop() };
}
