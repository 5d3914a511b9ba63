/**
 * erasure.tenant_directories (migration 0075): the handler's failure isolation between tenant databases,
 * what it trusts of a database's answer (only organizations placed there, only an erased account), and
 * who may call the lookup. The suite's database stands in for a tenant database: 0075 creates the same
 * function there.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import pino from 'pino';
import { createPool } from '../../platform/db/pool.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createTenantDirectoryErasureHandler } from './erasure-tenant-directories.js';

describe('erasure.tenant_directories', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let admin: pg.Client;
  let orgId: string;
  const erased = randomUUID();
  const live = randomUUID();
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    admin = await connect(db.adminUrl);
    orgId = await createTestOrg(tenancy, 'review-erase');
    for (const [id, gone] of [
      [erased, true],
      [live, false],
    ] as const) {
      await admin.query(
        `insert into users (id, email, email_normalized, erased_at) values ($1, $2, $2, $3)`,
        [id, `${id}@review.example.com`, gone ? new Date() : null],
      );
      await admin.query(`insert into scim_users (organization_id, user_id, user_name) values ($1, $2, $3)`, [
        orgId,
        id,
        `review-${id}`,
      ]);
    }
  });
  afterAll(async () => {
    await admin.end();
    await tenancy.close();
  });

  /** A withTenant that records the organizations the handler would act in, and acts in none. */
  const recorder = () => {
    const calls: string[] = [];
    const withTenant = (async (id: string) => {
      calls.push(id);
      return false;
    }) as unknown as WithTenant;
    return { calls, withTenant };
  };
  const isErased = async (userId: string) =>
    (await admin.query('select 1 from users where id = $1 and erased_at is not null', [userId])).rows.length >
    0;
  /** Every organization in `eu-1` (as a database placement there would answer). */
  const allInEu = async () => 'eu-1';
  const source = (key: string, url: string) => ({
    key,
    open: () => createPool({ url, max: 1, applicationName: 'review' }),
  });
  // Nothing listens on port 1: connection refused at once, as a tenant database that is down.
  const down = source('down-1', 'postgres://nobody:x@127.0.0.1:1/none');
  /** The handler over `databases` (default: `eu-1`, the suite's database), every organization there. */
  const euHandler = (r: ReturnType<typeof recorder>, databases = [source('eu-1', db.workerUrl)]) =>
    createTenantDirectoryErasureHandler({
      withTenant: r.withTenant,
      databases,
      placedIn: allInEu,
      isErased,
      log,
    });

  it('a tenant database that is down does not keep the other databases from being searched', async () => {
    const r = recorder();
    const handler = euHandler(r, [down, source('eu-1', db.workerUrl)]);
    // The job fails (and is retried) for the database that is down, but the healthy one's records
    // must be deleted meanwhile: after 10 attempts the job is given up and never queued again.
    await expect(handler({ userId: erased }, {} as never)).rejects.toThrow();
    expect(r.calls).toContain(orgId);
  });

  it('a database the queuing instance named and this one lacks fails the job after the others were searched', async () => {
    // A configuration change rolling out: the job was queued by an instance that knows `eu-2`.
    const r = recorder();
    const handler = euHandler(r);
    await expect(handler({ userId: erased, databases: ['eu-1', 'eu-2'] }, {} as never)).rejects.toThrow(
      /not searched: eu-2/,
    );
    expect(r.calls).toContain(orgId);
    // Named and configured: completes.
    await handler({ userId: erased, databases: ['eu-1'] }, {} as never);
  });

  it("acts only in organizations placed in the database that answered (not another's)", async () => {
    const r = recorder();
    const handler = createTenantDirectoryErasureHandler({
      withTenant: r.withTenant,
      databases: [source('eu-1', db.workerUrl)],
      placedIn: async (id) => {
        const target = await tenancy.router.resolve(id);
        return target.directory === undefined ? null : target.key;
      },
      isErased,
      log,
    });
    await handler({ userId: erased }, {} as never);
    // orgId is pooled (no placement in eu-1): a database's answer about it is not its to give.
    expect(r.calls).not.toContain(orgId);
  });

  it('never deletes the directory records of a user who is not erased', async () => {
    const r = recorder();
    const handler = euHandler(r);
    await handler({ userId: live }, {} as never);
    expect(r.calls).not.toContain(orgId);
  });

  it('the lookup: the runtime role cannot call it; the worker role not inside a tenant scope', async () => {
    const runtime = await connect(db.url);
    const worker = await connect(db.workerUrl);
    try {
      await expect(
        runtime.query('select * from worker_api.app_priv_erasure_tenant_directory($1)', [erased]),
      ).rejects.toThrow(/permission denied/);
      await worker.query('begin');
      await worker.query(`select set_config('app.tenant_id', $1, true)`, [orgId]);
      await expect(
        worker.query('select * from worker_api.app_priv_erasure_tenant_directory($1)', [erased]),
      ).rejects.toThrow(/refused inside a tenant scope/);
      await worker.query('rollback');
      const found = await worker.query<{ organization_id: string }>(
        'select organization_id from worker_api.app_priv_erasure_tenant_directory($1)',
        [erased],
      );
      expect(found.rows.map((x) => x.organization_id)).toEqual([orgId]);
    } finally {
      await runtime.end();
      await worker.end();
    }
  });
});
