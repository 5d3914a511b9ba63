import { run, Logger, type Runner, type Task, type TaskList } from 'graphile-worker';
import type pg from 'pg';
import type { Logger as Pino } from 'pino';
import { runWithContext } from '../tenancy/context.js';
import type { JobEnvelope } from './enqueue.js';

/** A job handler: receives the envelope's payload; runs inside the job's request context. */
export type JobHandler = (
  payload: unknown,
  job: { tenantId: string | null; attempt: number; id: string },
) => Promise<void>;

export interface JobWorker {
  stop(): Promise<void>;
}

/**
 * Runs graphile-worker on the runtime pool. Each job re-enters the context it was queued in (tenant,
 * request id) so its log lines and any `withTenant` call carry the tenant; handlers that touch tenant data
 * call `withTenant(job.tenantId, ...)` themselves.
 */
export async function startJobWorker(opts: {
  pool: pg.Pool;
  handlers: Record<string, JobHandler>;
  log: Pino;
  concurrency?: number;
  pollIntervalMs?: number;
  /** graphile-worker crontab lines (recurring tasks). */
  crontab?: string;
}): Promise<JobWorker> {
  const taskList: TaskList = {};
  for (const [name, handler] of Object.entries(opts.handlers)) {
    const task: Task = async (raw, helpers) => {
      const env = raw as JobEnvelope<unknown>;
      await runWithContext(
        {
          requestId: env.requestId ?? `job:${helpers.job.id}`,
          tenantId: env.tenantId ?? undefined,
          principal: { kind: 'system', name: `job:${name}` },
        },
        () =>
          handler(env.payload, { tenantId: env.tenantId, attempt: helpers.job.attempts, id: helpers.job.id }),
      );
    };
    taskList[name] = task;
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
    ...(opts.crontab ? { crontab: opts.crontab } : {}),
    logger,
  });
  return { stop: () => runner.stop() };
}
