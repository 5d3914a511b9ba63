import type pg from 'pg';
import {
  createJobPayloadBox,
  JobPayloadError,
  openJobPayload,
} from '../../src/platform/jobs/payload-seal.js';
import { MAIL_TASK } from '../../src/platform/mail/mail-job.js';
import { TEST_KEK } from './job-key.js';
import { connect, testDb } from './tenancy.js';

/** A queued job as its handler would see it, read back by a test. */
export interface QueuedJob {
  readonly id: string;
  /** The job key the caller gave (the queue stores it namespaced by tenant). */
  readonly key: string | null;
  readonly tenantId: string | null;
  readonly payload: unknown;
}

const box = createJobPayloadBox(TEST_KEK);

/**
 * Every pending job of `task`, oldest first, opened with the test KEK (the rows hold sealed payloads
 * only; graphile-worker 0.17's public `jobs` view has no payload column, so the private table is read).
 * `admin` is a superuser client.
 */
export async function queuedJobs(admin: pg.Client, task: string): Promise<QueuedJob[]> {
  const res = await admin.query<{ id: string; key: string | null; payload: unknown }>(
    `select j.id::text as id, j.key, j.payload from graphile_worker._private_jobs j
       join graphile_worker._private_tasks t on t.id = j.task_id
      where t.identifier = $1 order by j.id`,
    [task],
  );
  const jobs: QueuedJob[] = [];
  for (const row of res.rows) {
    let opened: ReturnType<typeof openJobPayload>;
    try {
      opened = openJobPayload(box, task, row.payload, Date.now(), row.key);
    } catch (err) {
      // Not sealed with the test key: another file's tampering case shares the queue (JobPayloadError).
      if (err instanceof JobPayloadError) continue;
      throw err;
    }
    if (opened === 'expired') continue;
    jobs.push({
      id: row.id,
      key: row.key === null ? null : row.key.slice(row.key.indexOf('/') + 1),
      tenantId: opened.tenantId,
      payload: opened.payload,
    });
  }
  return jobs;
}

/**
 * Waits until no `mail.send` job addressed to `to` is pending in the suite database's queue any more
 * (each was sent or given up), polling every 50 ms; throws after `ms`. What a test waits for before it
 * counts the mails an address received: every mail queued so far has arrived by then, with no guess at
 * how long delivery takes.
 */
export async function mailQueueDrained(to: string, ms = 15_000): Promise<void> {
  const admin = await connect(testDb().adminUrl);
  try {
    const until = Date.now() + ms;
    const pending = async () =>
      (await queuedJobs(admin, MAIL_TASK)).some((j) =>
        String((j.payload as { to?: unknown } | null)?.to).includes(to),
      );
    while (await pending()) {
      if (Date.now() > until) throw new Error(`mail to ${to} still queued after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await admin.end();
  }
}
