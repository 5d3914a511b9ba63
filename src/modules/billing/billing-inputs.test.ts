import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createMeterCatalog } from '../usage/meter-catalog.js';
import { allMeters, toDef } from '../usage/meters.repository.js';
import { createUsageEventsService, type UsageEventInput } from '../usage/usage-events.service.js';
import { applyPlanChange } from '../plans/organization-plan.service.js';
import { addDays, calendarPeriod, utcDate } from './billing-period.js';
import { createBillingInputs } from './billing-inputs.service.js';
import { createBillingService } from './billing.service.js';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';

const DAY = 86_400_000;
const run = randomBytes(4).toString('hex');
const meter = { calls: `b.calls.${run}`, gb: `b.gb.${run}` };
const plan = { old: `bo-${run}`, new: `bn-${run}`, frac: `bf-${run}` };
const month = (components: unknown[]) => JSON.stringify({ currency: 'USD', interval: 'month', components });
/** Half up, as the engine rounds (positive amounts). */
const prorate = (amount: number, days: number, of: number) => Math.round((amount * days) / of);

/**
 * The live billing inputs on the real database: the plan history and catalog give the segments, the
 * memberships the seats, the usage aggregates (written by the real aggregator) the usage; the billing
 * service prices the preview from them.
 */
describe('billing inputs and the invoice preview', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let events: ReturnType<typeof createUsageEventsService>;
  // One instant for the events and the service's clock, so the events fall in the previewed period.
  const now = new Date();
  const period = calendarPeriod('month', utcDate(now));

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    admin = await connect(db.adminUrl);
    workerPool = new pg.Pool({ connectionString: db.workerUrl, max: 2 });
    await admin.query(
      `insert into meters (key, aggregation, property) values ($1, 'count', null), ($2, 'sum', null)`,
      [meter.calls, meter.gb],
    );
    await admin.query(
      `insert into plans (key, name, price) values ($1, 'Old', $2), ($3, 'New', $4), ($5, 'Frac', $6)`,
      [
        plan.old,
        month([{ model: 'flat', amount: 6200 }]),
        plan.new,
        month([
          { model: 'flat', amount: 3100 },
          { model: 'per_seat', unitAmount: 1000 },
          { model: 'per_unit', meter: meter.calls, unitAmount: 7 },
        ]),
        plan.frac,
        month([{ model: 'per_unit', meter: meter.gb, unitAmount: 1 }]),
      ],
    );
    events = createUsageEventsService({
      withTenant: tenancy.withTenant,
      meters: createMeterCatalog({
        load: async () => (await allMeters(createPlatformDb(tenancy.control.pool))).map(toDef),
      }),
      settings: { latenessMs: 7 * DAY, futureMs: 5 * 60_000 },
    });
  });
  afterAll(async () => {
    await workerPool.end();
    await admin.end();
    await tenancy.close();
  });

  const billing = () =>
    createBillingService({
      withTenant: tenancy.withTenant,
      inputs: createBillingInputs({ withTenant: tenancy.withTenant }),
      issuer: 'billing.test',
      now: () => now,
    });
  const ingest = (org: string, batch: UsageEventInput[]) =>
    events.ingest(systemCtx(org, 'billing.test'), batch);

  /** Runs the aggregator until the watermark is past every event stored so far (as usage.test.ts). */
  const drain = () => drainAggregator(admin, workerPool);

  it('an organization on free with usage: its free plan from its creation day, nothing charged', async () => {
    const org = await createTestOrg(tenancy, 'bill-free');
    await ingest(org, [{ id: 'a1', meter: 'api_requests', value: 40, timestamp: now.toISOString() }]);
    await drain();
    const preview = await billing().preview(systemCtx(org, 'billing.test'));
    expect(preview).toMatchObject({ periodStart: period.start, periodEnd: period.end, currency: 'USD' });
    expect(preview.lines).toEqual([
      expect.objectContaining({
        planKey: 'free',
        component: 'flat',
        amount: 0,
        // Created today (the test's clock): the days before it carry no plan.
        periodStart: utcDate(now),
        periodEnd: period.end,
      }),
    ]);
    expect(preview.total).toBe(0);
  });

  it('a plan change mid-period: prorated fixed fees, seats now, the usage of the period from the aggregates', async () => {
    const org = await createTestOrg(tenancy, 'bill-change');
    const changeDay = 10;
    await admin.query(`update organizations set created_at = $2, plan = $3 where id = $1`, [
      org,
      new Date(Date.parse(`${period.start}T00:00:00Z`) - 40 * DAY),
      plan.new,
    ]);
    // The history: on `old` until the change (10:00 UTC on day 10 of the period: the day is the new plan's).
    await admin.query(
      `insert into organization_plan_changes (organization_id, id, from_plan, to_plan, changed_at, via)
        values ($1, $2, $3, $4, $5, 'platform')`,
      [org, randomUUID(), plan.old, plan.new, new Date(`${addDays(period.start, changeDay)}T10:00:00Z`)],
    );
    for (const [i, status] of ['active', 'active', 'pending'].entries()) {
      const user = randomUUID();
      await admin.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
        user,
        `bill-${i}-${user}@example.test`,
      ]);
      await admin.query(
        `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'member', $3)`,
        [org, user, status],
      );
    }
    // 3 + 4 + 5 calls this period; one the period before (outside the lateness window only if the period
    // began more than 7 days ago, so it goes in only then).
    await ingest(
      org,
      [3, 4, 5].map((value, i) => ({ id: `c${i}`, meter: meter.calls, value, timestamp: now.toISOString() })),
    );
    const before = new Date(Date.parse(`${period.start}T00:00:00Z`) - 1000);
    if (now.getTime() - before.getTime() < 6 * DAY) {
      await ingest(org, [{ id: 'prev', meter: meter.calls, value: 100, timestamp: before.toISOString() }]);
    }
    await drain();

    const preview = await billing().preview(systemCtx(org, 'billing.test'));
    const days = period.days;
    const changeDate = addDays(period.start, changeDay);
    expect(
      preview.lines.map((l) => [l.planKey, l.component, l.quantity, l.amount, l.periodStart, l.periodEnd]),
    ).toEqual([
      [plan.old, 'flat', 1, prorate(6200, changeDay, days), period.start, changeDate],
      [plan.new, 'flat', 1, prorate(3100, days - changeDay, days), changeDate, period.end],
      [plan.new, 'per_seat', 2, prorate(1000 * 2, days - changeDay, days), changeDate, period.end],
      [plan.new, 'per_unit', 12, 84, period.start, period.end],
    ]);
    expect(preview.total).toBe(preview.lines.reduce((s, l) => s + l.amount, 0));
  });

  it('a change through the plans service today: the old plan until today, the new one from today', async () => {
    const org = await createTestOrg(tenancy, 'bill-svc');
    await admin.query(`update organizations set created_at = $2 where id = $1`, [
      org,
      new Date(Date.parse(`${period.start}T00:00:00Z`) - DAY),
    ]);
    const ctx = systemCtx(org, 'billing.test');
    await tenancy.withTenant(org, (tx) => applyPlanChange(tx, ctx, plan.old, 'platform'));
    const today = utcDate(new Date());
    const lines = (await billing().preview(ctx)).lines;
    const expected = [
      ...(today > period.start ? [['free', period.start, today]] : []),
      [plan.old, today, period.end],
    ];
    expect(lines.map((l) => [l.planKey, l.periodStart, l.periodEnd])).toEqual(expected);
  });

  it('refuses a fractional usage of a priced meter rather than round it (USAGE_NOT_BILLABLE)', async () => {
    const org = await createTestOrg(tenancy, 'bill-frac');
    await admin.query(`update organizations set plan = $2 where id = $1`, [org, plan.frac]);
    await ingest(org, [{ id: 'g1', meter: meter.gb, value: '1.5', timestamp: now.toISOString() }]);
    await drain();
    await expect(billing().preview(systemCtx(org, 'billing.test'))).rejects.toMatchObject({
      code: 'USAGE_NOT_BILLABLE',
      status: 422,
    });
    await ingest(org, [{ id: 'g2', meter: meter.gb, value: '0.5', timestamp: now.toISOString() }]);
    await drain();
    const preview = await billing().preview(systemCtx(org, 'billing.test'));
    expect(preview.lines).toEqual([
      expect.objectContaining({ component: 'per_unit', quantity: 2, amount: 2 }),
    ]);
  });
});
