import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { createPool } from '../db/pool.js';
import { mailText } from '../../../test/support/smtp.js';
import { sharedMailbox } from '../../../test/support/mailbox.js';
import { createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { createLogger } from '../logger.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { createMailer } from '../mail/mailer.js';
import { createMailJobHandler, MAIL_TASK } from '../mail/mail-job.js';
import { enqueueJob } from './enqueue.js';
import { startJobWorker, type JobWorker } from './worker.js';

describe('jobs: queued in the caller’s transaction, delivered by the worker', () => {
  let tenancy: Tenancy;
  const smtp = sharedMailbox();
  // A task of its own: graphile-worker gives a job to whichever worker polls first, and other test
  // processes run workers for MAIL_TASK (the e2e suite). Only this file's worker knows this task.
  const task = `${MAIL_TASK}.jobs-test-${process.pid}-${Date.now()}`;
  let worker: JobWorker;
  let pool: pg.Pool;
  const seenTenants: (string | null)[] = [];

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    pool = createPool({ url: testDb().url, max: 3 });
    const mailer = createMailer({ smtpUrl: smtp.url, from: 'SaaSReady <no-reply@saasready.test>' });
    const mail = createMailJobHandler(mailer);
    worker = await startJobWorker({
      pool,
      log: createLogger({ level: 'silent' }),
      pollIntervalMs: 100,
      handlers: {
        [task]: async (payload, job) => {
          seenTenants.push(job.tenantId);
          await mail(payload, job);
        },
      },
    });
  });
  afterAll(async () => {
    await worker.stop();
    await pool.end();
    await tenancy.close();
  });

  it('a committed transaction’s mail arrives over SMTP, carrying the tenant into the job', async () => {
    const org = await createTestOrg(tenancy, 'jobs');
    await tenancy.withTenant(org, (db) =>
      enqueueJob(db, task, {
        tenantId: org,
        payload: { to: 'alice@example.test', subject: 'Hello', text: 'Link: https://x.test/a?token=abc' },
      }),
    );
    const got = await smtp.waitFor((m) => m.to.includes('alice@example.test'));
    expect(mailText(got.raw)).toContain('https://x.test/a?token=abc');
    expect(seenTenants).toContain(org);
  });

  it('a rolled-back transaction sends nothing', async () => {
    const org = await createTestOrg(tenancy, 'jobs-rb');
    await expect(
      tenancy.withTenant(org, async (db) => {
        await enqueueJob(db, task, {
          tenantId: org,
          payload: { to: 'rollback@example.test', subject: 'Never', text: 'never' },
        });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await tenancy.withTenant(org, (db) =>
      enqueueJob(db, task, {
        tenantId: org,
        payload: { to: 'after@example.test', subject: 'After', text: 'x' },
      }),
    );
    await smtp.waitFor((m) => m.to.includes('after@example.test'));
    expect(smtp.all().some((m) => m.to.includes('rollback@example.test'))).toBe(false);
  });
});
