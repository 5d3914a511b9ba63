import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Logger } from 'pino';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { keepByControlPlans, quotaPlanOrganizations } from './quota-tenant-databases.js';
import { testPool } from '../../../test/support/pools.js';

/**
 * The control database's side of a tenant database's quota notices: which organizations' plans have
 * quotas (`worker_api.app_priv_quota_organizations`, migration 0074), and the aggregator filter that
 * keeps only their changes.
 */
describe('quota notices of tenant databases: plans read from the control database', () => {
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let quoted: string;
  let unlimited: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    admin = await connect(testDb().adminUrl);
    workerPool = testPool({ connectionString: testDb().workerUrl, max: 1 });
    quoted = await createTestOrg(tenancy, 'qtd-free'); // `free`: quotas
    unlimited = await createTestOrg(tenancy, 'qtd-ent');
    await admin.query(`update organizations set plan = 'enterprise' where id = $1`, [unlimited]); // none
  });
  afterAll(async () => {
    await workerPool.end();
    await admin.end();
    await tenancy.close();
  });

  it('keeps the organizations whose plan has quotas; unknown ids are left out', async () => {
    const found = await quotaPlanOrganizations(workerPool, [quoted, unlimited, randomUUID()]);
    expect([...found]).toEqual([quoted]);
    expect(await quotaPlanOrganizations(workerPool, [])).toEqual(new Set());
  });

  it('the aggregator filter keeps only those organizations’ changes', async () => {
    const keep = keepByControlPlans({
      workerPool,
      log: { error: () => {}, debug: () => {} } as unknown as Logger,
    });
    const day = new Date(Date.UTC(2026, 0, 5));
    expect(
      await keep([
        { organizationId: quoted, day },
        { organizationId: unlimited, day },
      ]),
    ).toEqual([{ organizationId: quoted, day }]);
    expect(await keep([])).toEqual([]);
  });

  it('is the worker role’s, outside any tenant scope', async () => {
    const app = await connect(testDb().url);
    try {
      await expect(
        app.query('select * from worker_api.app_priv_quota_organizations(array[]::uuid[])'),
      ).rejects.toThrow(/permission denied/);
    } finally {
      await app.end();
    }
    const c = await workerPool.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('app.tenant_id', $1, true)`, [quoted]);
      await expect(
        c.query('select * from worker_api.app_priv_quota_organizations($1::uuid[])', [[quoted]]),
      ).rejects.toThrow(/refused inside a tenant scope/);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });
});
