import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { createPool } from '../db/pool.js';
import { mailText } from '../../../test/support/smtp.js';
import { sharedMailbox } from '../../../test/support/mailbox.js';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { TEST_KEK } from '../../../test/support/job-key.js';
import { createLogger } from '../logger.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { createMailer } from '../mail/mailer.js';
import { createMailJobHandler, MAIL_TASK } from '../mail/mail-job.js';
import { enqueueJob } from './enqueue.js';
import { createJobPayloadBox, JobPayloadError, openJobPayload, sealJobPayload } from './payload-seal.js';
import { purgeJobs, PURGE_TASK, startJobWorker, type JobWorker } from './worker.js';

describe('jobs: queued in the caller’s transaction, delivered by the worker', () => {
  let tenancy: Tenancy;
  const smtp = sharedMailbox();
  // A task of its own: graphile-worker gives a job to whichever worker polls first, and other test
  // processes run workers for MAIL_TASK (the e2e suite). Only this file's worker knows this task.
  const task = `${MAIL_TASK}.jobs-test-${process.pid}-${Date.now()}`;
  let worker: JobWorker;
  let pool: pg.Pool;
  let admin: pg.Client;
  const seenTenants: (string | null)[] = [];
  const handled: unknown[] = [];

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    admin = await connect(testDb().adminUrl);
    // The runtime role may queue only listed tasks (a migration lists a module's tasks).
    await admin.query(`insert into enqueueable_tasks (task, description) values ($1, 'jobs.test')`, [task]);
    pool = createPool({ url: testDb().workerUrl, max: 3 });
    const mailer = createMailer({ smtpUrl: smtp.url, from: 'SaaSReady <no-reply@saasready.test>' });
    const mail = createMailJobHandler(mailer);
    worker = await startJobWorker({
      pool,
      kek: TEST_KEK,
      log: createLogger({ level: 'silent' }),
      pollIntervalMs: 100,
      handlers: {
        [task]: async (payload, job) => {
          seenTenants.push(job.tenantId);
          handled.push(payload);
          await mail(payload, job);
        },
      },
    });
  });
  afterAll(async () => {
    await worker.stop();
    await pool.end();
    await admin.end();
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

  it('runs as the worker role, which has nothing in public', async () => {
    const worker = testDb().roles.worker;
    const r = await admin.query<{ public: boolean; queue: boolean; runtime: boolean }>(
      `select has_schema_privilege($1, 'public', 'usage') as public,
              has_schema_privilege($1, 'graphile_worker', 'usage') as queue,
              pg_has_role($1, $2, 'member') as runtime`,
      [worker, testDb().roles.runtime],
    );
    expect(r.rows[0]).toEqual({ public: false, queue: true, runtime: false });
    const role = await admin.query<{ rolsuper: boolean; rolbypassrls: boolean; owns: number }>(
      `select rolsuper, rolbypassrls,
         (select count(*)::int from pg_class where relowner = pg_roles.oid) as owns
       from pg_roles where rolname = $1`,
      [worker],
    );
    expect(role.rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, owns: 0 });
  });

  it('drops a job whose sealed payload expired without running the handler', async () => {
    const org = await createTestOrg(tenancy, 'jobs-exp');
    const to = `expired-${process.pid}-${Date.now()}@example.test`;
    await tenancy.withTenant(org, (db) =>
      enqueueJob(
        db,
        task,
        { tenantId: org, payload: { to, subject: 'Old', text: 'x' } },
        { jobKey: `exp-${to}`, runAt: new Date(Date.now() + 3600_000) },
      ),
    );
    // Age it: the clear expiry is in the past (and the ciphertext, bound to it, no longer opens either).
    await admin.query(
      `update graphile_worker._private_jobs
          set payload = json_build_object('v', payload->'v', 'tenantId', payload->'tenantId', 'requestId', null,
                'exp', extract(epoch from now())::bigint - 1, 'sealed', payload->'sealed'),
              run_at = now()
        where key = $1`,
      [`${org}/exp-${to}`],
    );
    const end = Date.now() + 10_000;
    let left = 1;
    while (left > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      left = (
        await admin.query(`select 1 from graphile_worker._private_jobs where key = $1`, [`${org}/exp-${to}`])
      ).rowCount!;
    }
    expect(left).toBe(0);
    expect(handled.some((p) => (p as { to?: string }).to === to)).toBe(false);
  });

  it('a sealed payload opens only for its own job key', () => {
    const box = createJobPayloadBox(TEST_KEK);
    const job = { tenantId: null, requestId: null, payload: { to: 'x@example.test' } };
    const sealed = sealJobPayload(box, task, job, Date.now(), 'k1');
    expect(sealed.v).toBe(2);
    expect(openJobPayload(box, task, sealed, Date.now(), 'platform/k1')).toMatchObject(job);
    for (const key of ['platform/k2', 'k1', null]) {
      expect(() => openJobPayload(box, task, sealed, Date.now(), key), String(key)).toThrow(JobPayloadError);
    }
    const unkeyed = sealJobPayload(box, task, job);
    expect(() => openJobPayload(box, task, unkeyed, Date.now(), 'platform/k1')).toThrow(JobPayloadError);
  });

  it('a payload queued before a KEK rotation opens after it while the old KEK is in KEK_PREVIOUS', () => {
    const job = { tenantId: null, requestId: null, payload: { to: 'x@example.test' } };
    const sealed = sealJobPayload(createJobPayloadBox(TEST_KEK), task, job, Date.now(), 'k1');
    const next = randomBytes(32);
    expect(() => openJobPayload(createJobPayloadBox(next), task, sealed, Date.now(), 'platform/k1')).toThrow(
      JobPayloadError,
    );
    const rotated = createJobPayloadBox(next, [TEST_KEK]);
    expect(openJobPayload(rotated, task, sealed, Date.now(), 'platform/k1')).toMatchObject(job);
  });

  it('a payload that does not open fails permanently at once (no retry), and the purge deletes it', async () => {
    const stem = `unopenable-${process.pid}-${Date.now()}`;
    const org = await createTestOrg(tenancy, 'jobs-forged');
    const other = await createTestOrg(tenancy, 'jobs-forger');
    const later = new Date(Date.now() + 3600_000);
    // Two pending platform (tenantless) mails; then K2 gets K1's payload (a valid seal, for another key),
    // and K3, queued from organization A's scope, is replaced from another organization's scope by reusing
    // its key with a payload of the sealed shape that was never sealed.
    for (const k of ['k1', 'k2', 'k3']) {
      await tenancy.withTenant(org, (db) =>
        enqueueJob(
          db,
          task,
          { tenantId: null, payload: { to: `${stem}-${k}@example.test`, subject: k, text: 'link' } },
          { jobKey: `${stem}-${k}`, runAt: later },
        ),
      );
    }
    const key = (k: string) => `platform/${stem}-${k}`;
    await admin.query(
      `update graphile_worker._private_jobs
          set payload = (select payload from graphile_worker._private_jobs where key = $1), run_at = now()
        where key = $2`,
      [key('k1'), key('k2')],
    );
    await tenancy.withTenant(other, (db) =>
      sql`select app_enqueue_job(${task}, ${JSON.stringify({
        v: 2,
        tenantId: null,
        requestId: null,
        exp: Math.floor(Date.now() / 1000) + 3600,
        sealed: 'v1.AAAA.AAAA.AAAA',
      })}::json, ${`${stem}-k3`}, 10, now())`.execute(db),
    );
    const state = async (k: string) =>
      (
        await admin.query<{ attempts: number; max_attempts: number; failed: boolean }>(
          `select attempts, max_attempts, last_error is not null as failed
             from graphile_worker._private_jobs where key = $1`,
          [key(k)],
        )
      ).rows[0];
    const end = Date.now() + 15_000;
    while (Date.now() < end && !((await state('k2'))?.failed && (await state('k3'))?.failed)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const k of ['k2', 'k3'])
      expect(await state(k), k).toEqual({ attempts: 1, max_attempts: 1, failed: true });
    expect(handled.some((p) => String((p as { to?: string }).to).startsWith(stem))).toBe(false);
    await purgeJobs(pool);
    expect(await state('k2')).toBeUndefined();
    expect(await state('k3')).toBeUndefined();
    expect(await state('k1')).toMatchObject({ attempts: 0 }); // untouched, still pending
    await admin.query(`delete from graphile_worker._private_jobs where key = $1`, [key('k1')]);
  });

  it('the hourly purge deletes permanently failed jobs and expired payloads, and nothing else', async () => {
    const org = await createTestOrg(tenancy, 'jobs-purge');
    const stem = `purge-${process.pid}-${Date.now()}`;
    for (const k of ['failed', 'expired', 'pending']) {
      await tenancy.withTenant(org, (db) =>
        enqueueJob(
          db,
          task,
          { tenantId: org, payload: { to: `${k}@example.test`, subject: k, text: 'secret link' } },
          { jobKey: `${stem}-${k}`, runAt: new Date(Date.now() + 3600_000) },
        ),
      );
    }
    const key = (k: string) => `${org}/${stem}-${k}`;
    await admin.query(
      `update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'x' where key = $1`,
      [key('failed')],
    );
    await admin.query(
      `update graphile_worker._private_jobs
          set payload = json_build_object('v', payload->'v', 'tenantId', payload->'tenantId', 'requestId', null,
                'exp', extract(epoch from now())::bigint - 1, 'sealed', payload->'sealed')
        where key = $1`,
      [key('expired')],
    );
    const purged = await purgeJobs(pool);
    expect(purged.permafailed).toBeGreaterThanOrEqual(1);
    expect(purged.expired).toBeGreaterThanOrEqual(1);
    const left = await admin.query<{ key: string }>(
      `select key from graphile_worker._private_jobs where key like $1 order by key`,
      [`${org}/${stem}-%`],
    );
    expect(left.rows.map((r) => r.key)).toEqual([key('pending')]);
    // Scheduled by every worker's crontab (graphile-worker runs it once per hour across instances).
    const cron = await admin.query(
      `select 1 from graphile_worker._private_known_crontabs where identifier = $1`,
      [PURGE_TASK],
    );
    expect(cron.rowCount).toBe(1);
  });
});
