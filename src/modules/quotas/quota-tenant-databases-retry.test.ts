import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { freePort } from '../../../test/support/provision.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import {
  closeSplit,
  openSplit,
  placeInT1,
  type SplitDatabases,
} from '../../platform/tenancy/split.test-support.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createMeterCatalog } from '../usage/meter-catalog.js';
import { allMeters, toDef } from '../usage/meters.repository.js';
import { createUsageEventsService } from '../usage/usage-events.service.js';
import { createUsageAggregator } from '../usage/aggregator.js';
import { keepByControlPlans } from './quota-tenant-databases.js';
import { testPool } from '../../../test/support/pools.js';

const LATENESS = 7 * 86_400_000;
const run = randomBytes(4).toString('hex');
const meter = `qtdr.calls.${run}`;

/**
 * A tenant database's aggregator picks the organizations for the quota notices by their plan in the
 * control database, read before its run commits: a failed lookup rolls the run back (the watermark
 * stays), so the next run aggregates the same events again and their organizations' notices are checked,
 * not dropped.
 */
describe('quota notices of a tenant database: a failed control database lookup is retried', () => {
  let split: SplitDatabases;
  let controlWorker: pg.Pool;
  let tenantWorker: pg.Pool;

  beforeAll(async () => {
    split = await openSplit('sr_qtdr');
    controlWorker = testPool({ connectionString: split.control.workerUrl, max: 2 });
    tenantWorker = testPool({ connectionString: split.tenant.workerUrl, max: 2 });
    await tenantWorker.query('select * from worker_api.app_usage_partitions(8, 2, 400)');
    for (const c of [split.admin, split.tenantAdmin]) {
      await c.query(`insert into meters (key, aggregation) values ($1, 'count')`, [meter]);
    }
  }, 60_000);
  afterAll(async () => {
    await controlWorker?.end();
    await tenantWorker?.end();
    await closeSplit(split);
  });

  it('rolls the aggregation back and schedules the organization on the next run', async () => {
    const org = await placeInT1(split, `qtdr-${run}`, 'qtdr');
    // Quotas by the control database's plan (`free`); the tenant database's copy says `enterprise` (none).
    await split.admin.query(`update organizations set plan = 'free' where id = $1`, [org]);
    await split.tenantAdmin.query(`update organizations set plan = 'enterprise' where id = $1`, [org]);
    const events = createUsageEventsService({
      withTenant: split.tenancy.withTenant,
      meters: createMeterCatalog({
        load: async () => (await allMeters(createPlatformDb(split.tenancy.control.pool))).map(toDef),
      }),
      settings: { latenessMs: LATENESS, futureMs: 5 * 60_000 },
    });
    const res = await events.ingest(systemCtx(org, 'test'), [
      { id: 'e1', meter, timestamp: new Date().toISOString() },
    ]);
    expect(res.results.map((r) => r.status)).toEqual(['accepted']);

    const dead = testPool({
      connectionString: `postgres://nobody:nothing@127.0.0.1:${await freePort()}/none`,
      max: 1,
    });
    let lookupPool = dead;
    const scheduled: { organizationId: string; day: Date }[][] = [];
    const aggregator = createUsageAggregator({
      pool: tenantWorker,
      latenessMs: LATENESS,
      changedAnyPlan: true,
      keepChanged: (changed) => keepByControlPlans({ workerPool: lookupPool })(changed),
      onAggregated: (changed) => void scheduled.push(changed),
    });
    // A run aggregates only transactions below its snapshot's xmin, which another test's open transaction
    // (anywhere on the cluster) can hold back: runs that find nothing yet are run again.
    const firstRunWithEvents = async (): Promise<string> => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
        try {
          if ((await aggregator.runOnce()) > 0) return 'aggregated';
        } catch (err) {
          return (err as Error).message;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return 'nothing aggregated in 30 s';
    };
    try {
      expect(await firstRunWithEvents()).toMatch(/ECONNREFUSED/);
    } finally {
      await dead.end();
    }
    expect(scheduled).toEqual([]);

    // The next run aggregates the same event again (the failed one was rolled back) and schedules it.
    lookupPool = controlWorker;
    expect(await aggregator.runOnce()).toBe(1);
    expect(scheduled.flat().map((c) => c.organizationId)).toEqual([org]);
  });
});
