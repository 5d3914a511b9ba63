import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Logger } from 'pino';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { billingOrganizations } from '../../platform/tenancy/privileged.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createMeterCatalog } from '../usage/meter-catalog.js';
import { allMeters, toDef } from '../usage/meters.repository.js';
import { createUsageEventsService } from '../usage/usage-events.service.js';
import { createUsageAggregator } from '../usage/aggregator.js';
import { calendarPeriod, utcDate } from './billing-period.js';
import { createBillingInputs } from './billing-inputs.service.js';
import { createBillingService, type BillingService } from './billing.service.js';
import { buildTestApp } from '../../../test/support/app.js';
import {
  closeCutoff,
  createPeriodCloseJobHandler,
  createPeriodCloser,
  PERIOD_CLOSE_TASK,
} from './period-close.js';
import { aggregatedUpToNow } from './period-close-barrier.js';
import { testPool } from '../../../test/support/pools.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const LATENESS = 7 * DAY;
const run = randomBytes(4).toString('hex');
const meter = `pc.calls.${run}`;
const planKey = `pc-${run}`;

/**
 * The scheduled period close on the real database, with the real inputs, aggregator, numbering and the
 * worker role's organization scan. The clock is injected: the period is the current calendar month and
 * the job runs as if it were days after its end (usage partitions are made far enough ahead for its late
 * events). The job scans every organization of its database; only this file's are closed (the closer
 * below skips the others).
 *
 * A database of its own: making those partitions is DDL on usage_events (CREATE TABLE ... PARTITION OF
 * takes an ACCESS EXCLUSIVE lock on it, which other files' usage writes and reads queue behind), the job
 * aggregates its whole database, and the numbering check counts every invoice number of the database.
 */
describe('period close (job, database)', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  const realNow = new Date();
  const period = calendarPeriod('month', utcDate(realNow));
  const end = Date.parse(`${period.end}T00:00:00Z`);
  let clock = realNow;
  const mine = new Set<string>();
  let failFor: string | null = null;
  /** Replaces the deployment's billing start (the day migration 0023 ran: today) when set. */
  let startsOn: string | undefined;
  const errors: { tenant_id?: string }[] = [];
  const log = {
    info: () => {},
    debug: () => {},
    warn: () => {},
    error: (fields: { tenant_id?: string }) => errors.push(fields),
  } as unknown as Logger;

  const meters = () =>
    createMeterCatalog({
      load: async () => (await allMeters(createPlatformDb(tenancy.control.pool))).map(toDef),
    });
  const events = (now: () => number) =>
    createUsageEventsService({
      withTenant: tenancy.withTenant,
      meters: meters(),
      settings: { latenessMs: LATENESS, futureMs: 5 * 60_000 },
      now,
    });

  const job = () => {
    const inputs = createBillingInputs({ withTenant: tenancy.withTenant });
    const billing = createBillingService({
      withTenant: tenancy.withTenant,
      inputs,
      issuer: 'period-close.test',
      now: () => clock,
    });
    const failing: Pick<BillingService, 'closePeriod'> = {
      closePeriod: (ctx, p) => {
        if (ctx.tenantId === failFor) return Promise.reject(new Error('simulated failure'));
        return billing.closePeriod(ctx, p);
      },
    };
    const closer = createPeriodCloser({ withTenant: tenancy.withTenant, inputs, billing: failing });
    const aggregator = createUsageAggregator({ pool: workerPool, latenessMs: LATENESS });
    return createPeriodCloseJobHandler({
      organizations: (before, after, limit) => billingOrganizations(workerPool, before, after, limit),
      aggregatedUpToNow: () =>
        aggregatedUpToNow({ workerPool, runAggregation: () => aggregator.runOnce(), timeoutMs: 20_000 }),
      closer: {
        closeOrganization: (org, bounds) =>
          mine.has(org)
            ? closer.closeOrganization(org, { ...bounds, startsOn: startsOn ?? bounds.startsOn })
            : Promise.resolve(0),
      },
      latenessMs: LATENESS,
      log,
      now: () => clock,
    });
  };
  const runJob = () => job()(undefined, { tenantId: null, attempt: 1, id: 'test' });

  const invoicesOf = async (org: string) =>
    (
      await admin.query<{
        number: string | null;
        status: string;
        period_start: string;
        period_end: string;
        total: string;
        lines: { component: string; quantity: number; amount: number }[];
      }>(
        `select number, status, period_start::text, period_end::text, total::text, lines from invoices
          where organization_id = $1 order by number`,
        [org],
      )
    ).rows;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_period_close');
    tenancy = createTenancy({ url: db.url, poolSize: 6, setter: defaultTestSetter() });
    admin = await connect(db.adminUrl);
    workerPool = testPool({ connectionString: db.workerUrl, max: 3 });
    // Daily partitions up to 45 days ahead: the period's last day, whatever today is.
    await workerPool.query('select * from worker_api.app_usage_partitions(8, 45, 400)');
    await admin.query(`insert into meters (key, aggregation) values ($1, 'count')`, [meter]);
    await admin.query(`insert into plans (key, name, price) values ($1, 'Period close', $2)`, [
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
  });
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it(
    'closes a period once its lateness window has passed, with its late events, exactly once, gapless',
    { timeout: 120_000 },
    async () => {
      const paying = await createTestOrg(tenancy, 'pc-pay');
      const free = await createTestOrg(tenancy, 'pc-free');
      const failing = await createTestOrg(tenancy, 'pc-fail');
      for (const org of [paying, free, failing]) mine.add(org);
      await admin.query('update organizations set plan = $2 where id = $1', [paying, planKey]);
      // An event today (the clock of the moment), in the period.
      const onTime = await events(() => Date.now()).ingest(systemCtx(paying, 'test'), [
        { id: 'e1', meter, value: 3, timestamp: realNow.toISOString() },
      ]);
      expect(onTime.results[0]!.status).toBe('accepted');

      // Six days after the period's end: inside the lateness window, nothing is closed.
      clock = new Date(end + 6 * DAY);
      await runJob();
      for (const org of mine) expect(await invoicesOf(org)).toEqual([]);

      // A late event (its timestamp an hour before the period's end, sent 6.5 days after it): accepted.
      const late = await events(() => end + 6 * DAY + 12 * HOUR).ingest(systemCtx(paying, 'test'), [
        { id: 'e2', meter, value: 4, timestamp: new Date(end - HOUR).toISOString() },
      ]);
      expect(late.results[0]!.status).toBe('accepted');

      // The window has passed, but not the settling time after it: still nothing.
      clock = new Date(end + LATENESS + 5 * 60_000);
      expect(closeCutoff(clock, LATENESS)).toBe(utcDate(new Date(end - DAY)));
      await runJob();
      for (const org of mine) expect(await invoicesOf(org)).toEqual([]);

      // An hour after the window: two runs at once, one organization failing. The others are closed.
      clock = new Date(end + LATENESS + HOUR);
      failFor = failing;
      await Promise.all([runJob(), runJob()]);
      expect(errors.filter((e) => e.tenant_id === failing).length).toBeGreaterThanOrEqual(1);
      expect(await invoicesOf(failing)).toEqual([]);
      const [invoice, ...more] = await invoicesOf(paying);
      expect(more).toEqual([]);
      expect(invoice).toMatchObject({
        status: 'finalized',
        period_start: period.start,
        period_end: period.end,
      });
      expect(invoice!.number).toMatch(/^INV-\d{6,}$/);
      // The late event is on it: 3 + 4 calls at 10, plus the flat fee prorated from today (its creation).
      const usage = invoice!.lines.find((l) => l.component === 'per_unit');
      expect(usage).toMatchObject({ quantity: 7, amount: 70 });
      // The free plan with no usage: a 0.00 invoice, numbered like any other (see docs/billing.md).
      const [freeInvoice, ...freeMore] = await invoicesOf(free);
      expect(freeMore).toEqual([]);
      expect(freeInvoice).toMatchObject({ status: 'finalized', total: '0' });

      // The failure is gone: the next run closes that organization and nothing else.
      failFor = null;
      await Promise.all([runJob(), runJob()]);
      await runJob();
      expect(await invoicesOf(failing)).toHaveLength(1);
      expect(await invoicesOf(paying)).toEqual([invoice]);
      expect(await invoicesOf(free)).toEqual([freeInvoice]);

      // Numbers across the database have no gap (every committed number from 1 to the highest).
      const numbers = await admin.query<{ n: string; top: string }>(
        `select count(*)::text as n, coalesce(max(substr(number, 5)::bigint), 0)::text as top
         from invoices where number is not null`,
      );
      expect(numbers.rows[0]!.n).toBe(numbers.rows[0]!.top);
      // Each was audited, by the job's system actor.
      const audit = await admin.query<{ n: number }>(
        `select count(*)::int as n from (
         select organization_id, action, actor_type from audit_pending
         union all select organization_id, action, actor_type from audit_events) a
        where organization_id = any($1::uuid[]) and action = 'invoice.finalized' and actor_type = 'system'`,
        [[...mine]],
      );
      expect(audit.rows[0]!.n).toBe(3);
    },
  );

  it('catches up every ended period since the creation (or the billing start), oldest first, then stops at the last invoiced one', async () => {
    const org = await createTestOrg(tenancy, 'pc-old');
    const fresh = await createTestOrg(tenancy, 'pc-start');
    mine.add(org);
    mine.add(fresh);
    const previous = calendarPeriod(
      'month',
      utcDate(new Date(Date.parse(`${period.start}T00:00:00Z`) - DAY)),
    );
    const before = calendarPeriod(
      'month',
      utcDate(new Date(Date.parse(`${previous.start}T00:00:00Z`) - DAY)),
    );
    // Created in the middle of the month before the previous one.
    for (const o of [org, fresh]) {
      await admin.query('update organizations set created_at = $2 where id = $1', [
        o,
        new Date(Date.parse(`${before.start}T12:00:00Z`) + 9 * DAY),
      ]);
    }
    clock = new Date(end + LATENESS + HOUR);
    // With the deployment's real billing start (today): only the current period, none before it.
    mine.delete(org);
    await runJob();
    expect((await invoicesOf(fresh)).map((i) => [i.period_start, i.period_end])).toEqual([
      [period.start, period.end],
    ]);
    // A billing start before the creation: everything since the creation.
    mine.delete(fresh);
    mine.add(org);
    startsOn = '2000-01-01';
    await runJob().finally(() => (startsOn = undefined));
    const closed = await invoicesOf(org);
    expect(closed.map((i) => [i.period_start, i.period_end])).toEqual([
      [before.start, before.end],
      [previous.start, previous.end],
      [period.start, period.end],
    ]);
    await runJob();
    expect(await invoicesOf(org)).toEqual(closed);
    mine.add(fresh);
  });

  it('the composition schedules the task with the job worker (graphile-worker crontab)', async () => {
    const app = await buildTestApp({
      runJobs: true,
      database: { url: db.url, workerUrl: db.workerUrl, keyVaultUrl: db.keyVaultUrl },
    });
    try {
      // The cron scheduler records its crontab shortly after the worker has started.
      let known = 0;
      for (let i = 0; i < 100 && known === 0; i++) {
        const cron = await admin.query(
          'select 1 from graphile_worker._private_known_crontabs where identifier = $1',
          [PERIOD_CLOSE_TASK],
        );
        known = cron.rowCount ?? 0;
        if (known === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(known).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('the aggregation barrier waits for a transaction still open, and passes once it has ended', async () => {
    const aggregator = createUsageAggregator({ pool: workerPool, latenessMs: LATENESS });
    const open = await connect(db.adminUrl);
    try {
      await open.query('begin');
      await open.query('select pg_current_xact_id()');
      const barrier = (timeoutMs: number) =>
        aggregatedUpToNow({
          workerPool,
          runAggregation: () => aggregator.runOnce(),
          timeoutMs,
          pollMs: 50,
        });
      await expect(barrier(400)).resolves.toBe(false);
      await open.query('commit');
      // Transaction ids are the cluster's: another test file's transaction open in another database can
      // hold the barrier a while longer after this one ended (it waits; it does not pass early).
      await expect(barrier(30_000)).resolves.toBe(true);
    } finally {
      await open.end();
    }
  });
});
