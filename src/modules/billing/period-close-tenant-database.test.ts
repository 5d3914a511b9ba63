import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Logger } from 'pino';
import { freePort } from '../../../test/support/provision.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
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
import { calendarPeriod, utcDate } from './billing-period.js';
import { createBillingInputs } from './billing-inputs.service.js';
import { createBillingService } from './billing.service.js';
import { closeCutoff, createPeriodCloseJobHandler, createPeriodCloser } from './period-close.js';
import { billingOrganizations } from '../../platform/tenancy/privileged.js';
import {
  aggregatedUpToNow,
  tenantDatabasesBarrier,
  type TenantDatabaseAggregation,
} from './period-close-barrier.js';
import { testPool } from '../../../test/support/pools.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const LATENESS = 7 * DAY;
const run = randomBytes(4).toString('hex');
const meter = `pctd.calls.${run}`;
const planKey = `pctd-${run}`;

/**
 * The period close of organizations in a `database` placement, on a control database and a tenant
 * database of this file's own (`t1`), with the real inputs, billing service, aggregators and barriers as
 * src/app/compose/jobs.ts wires them. Their events, invoices and day aggregates are in the tenant
 * database; the close must wait for THAT database's aggregator, not only the control database's.
 */
describe('period close of a database placement (tenant database aggregation)', () => {
  let split: SplitDatabases;
  let controlWorker: pg.Pool;
  let tenantWorker: pg.Pool;
  const realNow = new Date();
  const period = calendarPeriod('month', utcDate(realNow));
  const end = Date.parse(`${period.end}T00:00:00Z`);
  const clock = new Date(end + LATENESS + HOUR);
  const errors: Record<string, unknown>[] = [];
  const log = {
    info: () => {},
    debug: () => {},
    warn: () => {},
    error: (fields: Record<string, unknown>) => errors.push(fields),
  } as unknown as Logger;

  const events = () =>
    createUsageEventsService({
      withTenant: split.tenancy.withTenant,
      meters: createMeterCatalog({
        load: async () => (await allMeters(createPlatformDb(split.tenancy.control.pool))).map(toDef),
      }),
      settings: { latenessMs: LATENESS, futureMs: 5 * 60_000 },
    });

  /** The job as jobs.ts composes it, for these organizations, with these tenant database aggregators. */
  const job = (orgs: string[], aggregators: ReadonlyMap<string, TenantDatabaseAggregation>) => {
    const { withTenant, router } = split.tenancy;
    const inputs = createBillingInputs({ withTenant });
    const billing = createBillingService({ withTenant, inputs, issuer: 'pctd.test', now: () => clock });
    const controlAggregator = createUsageAggregator({ pool: controlWorker, latenessMs: LATENESS });
    return createPeriodCloseJobHandler({
      // These organizations; none given: the real scan, as jobs.ts wires it.
      organizations: async (cutoff, after, limit) =>
        orgs.length > 0
          ? after === null
            ? orgs.map((id) => ({ id, startsOn: '2000-01-01' }))
            : []
          : billingOrganizations(controlWorker, cutoff, after, limit),
      aggregatedUpToNow: () =>
        aggregatedUpToNow({
          workerPool: controlWorker,
          runAggregation: () => controlAggregator.runOnce(),
          timeoutMs: 40_000,
        }),
      organizationAggregated: tenantDatabasesBarrier({
        placements: router,
        aggregators,
        timeoutMs: 40_000,
        log,
      }),
      closer: createPeriodCloser({ withTenant, inputs, billing }),
      latenessMs: LATENESS,
      log,
      now: () => clock,
    });
  };
  const runJob = (orgs: string[], aggregators: ReadonlyMap<string, TenantDatabaseAggregation>) =>
    job(orgs, aggregators)(undefined, { tenantId: null, attempt: 1, id: 'test' });
  /** The tenant database's aggregator (never started: it runs only when the close runs it). */
  const live = () => {
    const aggregator = createUsageAggregator({ pool: tenantWorker, latenessMs: LATENESS });
    return new Map([['t1', { pool: tenantWorker, runAggregation: () => aggregator.runOnce() }]]);
  };

  const invoicesIn = async (client: pg.Client, org: string) =>
    (
      await client.query<{
        number: string | null;
        status: string;
        lines: { component: string; quantity: number; amount: number }[];
      }>('select number, status, lines from invoices where organization_id = $1 order by number', [org])
    ).rows;
  const usageLine = async (org: string) =>
    (await invoicesIn(split.tenantAdmin, org))[0]?.lines.find((l) => l.component === 'per_unit');

  const paying = async (slug: string) => {
    const org = await placeInT1(split, `${slug}-${run}`, slug);
    await split.admin.query('update organizations set plan = $2 where id = $1', [org, planKey]);
    return org;
  };
  const ingest = async (org: string, n: number) => {
    const res = await events().ingest(
      systemCtx(org, 'test'),
      Array.from({ length: n }, (_, i) => ({ id: `e${i}`, meter, timestamp: realNow.toISOString() })),
    );
    expect(res.results.map((r) => r.status)).toEqual(Array.from({ length: n }, () => 'accepted'));
  };

  beforeAll(async () => {
    split = await openSplit('sr_pctd');
    controlWorker = testPool({ connectionString: split.control.workerUrl, max: 2 });
    tenantWorker = testPool({ connectionString: split.tenant.workerUrl, max: 2 });
    // Daily partitions up to 45 days ahead: the period's last day, whatever today is.
    await tenantWorker.query('select * from worker_api.app_usage_partitions(8, 45, 400)');
    await controlWorker.query('select * from worker_api.app_usage_partitions(8, 45, 400)');
    // The meter in the control database (the catalog) and in the tenant database (its aggregator's copy).
    for (const c of [split.admin, split.tenantAdmin]) {
      await c.query(`insert into meters (key, aggregation) values ($1, 'count')`, [meter]);
    }
    await split.admin.query(`insert into plans (key, name, price) values ($1, 'Tenant close', $2)`, [
      planKey,
      JSON.stringify({
        currency: 'USD',
        interval: 'month',
        components: [
          { model: 'flat', amount: 1000 },
          { model: 'per_unit', meter, unitAmount: 10 },
        ],
      }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await controlWorker?.end();
    await tenantWorker?.end();
    await closeSplit(split);
  });

  it(
    'an event stored in the tenant database just before the close is on the invoice',
    { timeout: 120_000 },
    async () => {
      const org = await paying('pctd-on-time');
      await ingest(org, 3);
      await runJob([org], live());
      const [invoice, ...more] = await invoicesIn(split.tenantAdmin, org);
      expect(more).toEqual([]);
      expect(invoice).toMatchObject({ status: 'finalized' });
      expect(invoice!.number).toMatch(/^INV-\d{6,}$/);
      expect(await usageLine(org)).toMatchObject({ quantity: 3, amount: 30 });
      // Numbered from the control database's counter, stored in the tenant database only.
      expect(await invoicesIn(split.admin, org)).toEqual([]);
    },
  );

  it(
    'an unreachable tenant database fails its organizations’ close (logged, nothing written) and not the others; the next run closes them',
    { timeout: 120_000 },
    async () => {
      const org = await paying('pctd-unreachable');
      const pooled = await createTestOrg(split.tenancy, 'pctd-pooled');
      await ingest(org, 2);
      // t1's worker role cannot be reached (its scopes still can: the invoice could be built, incomplete).
      const dead = testPool({
        connectionString: `postgres://nobody:nothing@127.0.0.1:${await freePort()}/none`,
        max: 1,
      });
      try {
        errors.length = 0;
        await runJob([org, pooled], new Map([['t1', { pool: dead, runAggregation: async () => 0 }]]));
      } finally {
        await dead.end();
      }
      expect(await invoicesIn(split.tenantAdmin, org)).toEqual([]);
      expect(errors).toContainEqual(
        expect.objectContaining({ tenant_id: org, code: 'USAGE_NOT_AGGREGATED' }),
      );
      expect(errors).toContainEqual(expect.objectContaining({ tenant_database: 't1' }));
      expect(await invoicesIn(split.admin, pooled)).toHaveLength(1);
      // A database with no aggregator at all (no workerUrl) is refused the same way.
      errors.length = 0;
      await runJob([org], new Map());
      expect(await invoicesIn(split.tenantAdmin, org)).toEqual([]);
      expect(errors).toContainEqual(
        expect.objectContaining({ tenant_id: org, code: 'USAGE_NOT_AGGREGATED' }),
      );
      // Reachable again: the next run closes it, with its events.
      await runJob([org], live());
      expect(await usageLine(org)).toMatchObject({ quantity: 2, amount: 20 });
    },
  );

  it(
    'an organization already invoiced for the closable period is not waited for nor failed when its tenant database is not aggregated',
    { timeout: 120_000 },
    async () => {
      const org = await paying('pctdr-done');
      await ingest(org, 1);
      // The real scan (worker_api.app_priv_billing_organizations on the control database), as jobs.ts wires it.
      await runJob([], live());
      expect(await invoicesIn(split.tenantAdmin, org)).toHaveLength(1);
      // Nothing left to close for it, yet the scan still lists it: its invoice is in the tenant database,
      // which the control database's "already invoiced" filter cannot see (docs/billing.md).
      const cutoff = closeCutoff(clock, LATENESS);
      const listed = (await billingOrganizations(controlWorker, cutoff, null, 1000)).map((o) => o.id);
      expect(listed).toContain(org);
      // Its tenant database is not waited for: the barrier is called only before a period to close.
      let passes = 0;
      const counted = new Map([
        ['t1', { pool: tenantWorker, runAggregation: async () => void (passes += 1) }],
      ]);
      errors.length = 0;
      await runJob([], counted);
      expect(passes).toBe(0);
      // And a tenant database that cannot be aggregated (no workerUrl, or down) does not fail this
      // organization's close every hour at error level (docs/billing.md: "a database with nothing to
      // close is not waited for").
      await runJob([], new Map());
      expect(await invoicesIn(split.tenantAdmin, org)).toHaveLength(1);
      expect(errors.filter((e) => e.tenant_id === org || e.tenant_database === 't1')).toEqual([]);
    },
  );
});
