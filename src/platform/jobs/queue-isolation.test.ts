import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { enqueueJob } from './enqueue.js';

/**
 * Issue 8, item 1: the runtime role reaches the queue only through `app_enqueue_job`. Jobs here are
 * queued an hour ahead so no worker of another test process takes them while they are inspected.
 */
describe('job queue: out of the runtime role’s reach', () => {
  let tenancy: Tenancy;
  let admin: pg.Client;
  let orgA: string;
  let orgB: string;
  const inAnHour = () => new Date(Date.now() + 3600_000);
  const token = () => randomBytes(24).toString('base64url');
  const inviteMail = (t: string) => ({
    to: `invitee-${randomBytes(4).toString('hex')}@example.test`,
    subject: 'You are invited',
    text: `Accept: https://app.example.test/accept-invitation?token=${t}`,
  });
  /** The raw rows of jobs whose key ends with `suffix`, as text, read as the superuser. */
  const rawRows = async (suffix: string) =>
    (
      await admin.query<{ row: string }>(
        `select row_to_json(j)::text as row from graphile_worker._private_jobs j where j.key like $1`,
        [`%${suffix}`],
      )
    ).rows.map((r) => r.row);

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    admin = await connect(testDb().adminUrl);
    orgA = await createTestOrg(tenancy, 'queue-a');
    orgB = await createTestOrg(tenancy, 'queue-b');
  });
  afterAll(async () => {
    await admin.query(`delete from graphile_worker._private_jobs where key like '%queue-isolation:%'`);
    await admin.end();
    await tenancy.close();
  });

  it('from B’s scope, A’s pending job can be neither read nor updated (no access to graphile_worker)', async () => {
    const key = `queue-isolation:${randomBytes(4).toString('hex')}`;
    await tenancy.withTenant(orgA, (db) =>
      enqueueJob(
        db,
        'mail.send',
        { tenantId: orgA, payload: inviteMail(token()) },
        { jobKey: key, runAt: inAnHour() },
      ),
    );
    expect(await rawRows(key)).toHaveLength(1);
    for (const statement of [
      `select payload::text from graphile_worker._private_jobs`,
      `select * from graphile_worker.jobs`,
      `update graphile_worker._private_jobs set payload = '{}'::json`,
      `delete from graphile_worker._private_jobs`,
      `select graphile_worker.add_job('mail.send', '{}'::json)`,
      `select * from graphile_worker.migrations`,
    ]) {
      await expect(
        tenancy.withTenant(orgB, (db) => sql.raw(statement).execute(db)),
        statement,
      ).rejects.toMatchObject({ code: '42501' });
    }
    const usage = await admin.query<{ ok: boolean }>(
      `select has_schema_privilege($1, 'graphile_worker', 'usage') as ok`,
      [testDb().roles.runtime],
    );
    expect(usage.rows[0]!.ok).toBe(false);
  });

  it('app_enqueue_job refuses a job of another tenant, an unknown task and an unsealed payload', async () => {
    // Sealing happens in enqueueJob; the function checks the tenant and task whatever the payload says.
    await expect(
      tenancy.withTenant(orgB, (db) =>
        enqueueJob(db, 'mail.send', { tenantId: orgA, payload: inviteMail(token()) }, { runAt: inAnHour() }),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    for (const task of ['audit_checkpoint_all', 'jobs_purge', 'no.such.task', 'Mail.Send']) {
      await expect(
        tenancy.withTenant(orgA, (db) => enqueueJob(db, task, { tenantId: orgA, payload: {} })),
        task,
      ).rejects.toMatchObject({ code: '42501' });
    }
    // A job of a tenant is refused outside any scope too.
    await expect(
      tenancy.control.pool.query(`select app_enqueue_job('mail.send', $1::json, null, 10, null)`, [
        JSON.stringify({
          v: 2,
          tenantId: orgA,
          requestId: null,
          exp: Date.now() / 1000 + 60,
          sealed: 'v1.a.b.c',
        }),
      ]),
    ).rejects.toMatchObject({ code: '42501' });
    // Clear payloads (anything but the sealed shape) are refused.
    await expect(
      tenancy.withTenant(orgA, (db) =>
        sql`select app_enqueue_job('mail.send', ${JSON.stringify({ tenantId: orgA, requestId: null, payload: inviteMail('x') })}::json, null, 10, null)`.execute(
          db,
        ),
      ),
    ).rejects.toMatchObject({ code: '22023' });
    // The version is the JSON number 2, not a string that reads like it, nor the unkeyed version 1.
    for (const v of ['2', 1, '1', 2.5, null]) {
      await expect(
        tenancy.withTenant(orgA, (db) =>
          sql`select app_enqueue_job('mail.send', ${JSON.stringify({
            v,
            tenantId: orgA,
            requestId: null,
            exp: Math.floor(Date.now() / 1000) + 60,
            sealed: 'v1.a.b.c',
          })}::json, null, 10, null)`.execute(db),
        ),
        JSON.stringify(v),
      ).rejects.toMatchObject({ code: '22023' });
    }
  });

  it('a job key is the tenant’s own: B cannot replace A’s pending job by reusing its key', async () => {
    const key = `queue-isolation:${randomBytes(4).toString('hex')}`;
    const secret = token();
    await tenancy.withTenant(orgA, (db) =>
      enqueueJob(
        db,
        'mail.send',
        { tenantId: orgA, payload: inviteMail(secret) },
        { jobKey: key, runAt: inAnHour() },
      ),
    );
    await tenancy.withTenant(orgB, (db) =>
      enqueueJob(
        db,
        'mail.send',
        { tenantId: orgB, payload: inviteMail(token()) },
        { jobKey: key, runAt: inAnHour() },
      ),
    );
    const rows = await rawRows(key);
    expect(rows).toHaveLength(2);
    expect(rows.some((r) => r.includes(orgA))).toBe(true);
    expect(rows.some((r) => r.includes(orgB))).toBe(true);
  });

  it('a queued mail’s row holds no link token in any column, nor the address', async () => {
    const key = `queue-isolation:${randomBytes(4).toString('hex')}`;
    const secret = token();
    const mail = inviteMail(secret);
    await tenancy.withTenant(orgA, (db) =>
      enqueueJob(db, 'mail.send', { tenantId: orgA, payload: mail }, { jobKey: key, runAt: inAnHour() }),
    );
    const rows = await rawRows(key);
    expect(rows).toHaveLength(1);
    expect(rows[0]).not.toContain(secret);
    expect(rows[0]).not.toContain(mail.to);
    expect(rows[0]).not.toContain('accept-invitation');
    const payload = JSON.parse(rows[0]!) as { payload: Record<string, unknown> };
    expect(Object.keys(payload.payload).sort()).toEqual(['exp', 'requestId', 'sealed', 'tenantId', 'v']);
    // Worthless after the longest link validity (7 days).
    expect(payload.payload.exp as number).toBeLessThanOrEqual(Date.now() / 1000 + 7 * 24 * 3600 + 5);
  });
});
