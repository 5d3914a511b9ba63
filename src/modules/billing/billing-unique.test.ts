import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createMeterCatalog } from '../usage/meter-catalog.js';
import { allMeters, toDef } from '../usage/meters.repository.js';
import { createUsageEventsService } from '../usage/usage-events.service.js';
import { addDays, calendarPeriod, utcDate } from './billing-period.js';
import { createBillingInputs } from './billing-inputs.service.js';
import { createBillingService } from './billing.service.js';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';

const DAY = 86_400_000;
const run = randomBytes(4).toString('hex');
const MAU = `b.mau.${run}`;
const plan = { tiers: `bu-t-${run}`, year: `bu-y-${run}` };
/** Graduated: the first 3 users at 100 each, every further one at 50. */
const TIERS = {
  model: 'graduated',
  meter: MAU,
  tiers: [
    { upTo: 3, unitAmount: 100 },
    { upTo: null, unitAmount: 50 },
  ],
};

/**
 * A `unique_count` meter is billable per period (migration 0063): its usage is the number of distinct
 * values over the period's months (`usage_unique_values`), e.g. monthly active users. Hand-computed.
 */
describe('billing a unique_count meter', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let events: ReturnType<typeof createUsageEventsService>;
  const now = new Date();
  const month = calendarPeriod('month', utcDate(now));

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    admin = await connect(db.adminUrl);
    workerPool = new pg.Pool({ connectionString: db.workerUrl, max: 2 });
    await admin.query(`insert into meters (key, aggregation, property) values ($1, 'unique_count', 'user')`, [
      MAU,
    ]);
    await admin.query(`insert into plans (key, name, price) values ($1, 'Tiers', $2), ($3, 'Year', $4)`, [
      plan.tiers,
      JSON.stringify({ currency: 'USD', interval: 'month', components: [TIERS] }),
      plan.year,
      JSON.stringify({
        currency: 'USD',
        interval: 'year',
        components: [{ model: 'per_unit', meter: MAU, unitAmount: 10 }],
      }),
    ]);
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

  const billing = (at = now) =>
    createBillingService({
      withTenant: tenancy.withTenant,
      inputs: createBillingInputs({ withTenant: tenancy.withTenant }),
      issuer: 'billing-unique.test',
      now: () => at,
    });
  const users = (org: string, names: string[], prefix: string) =>
    events.ingest(
      systemCtx(org, 'billing-unique.test'),
      names.map((u, i) => ({
        id: `${prefix}${i}`,
        meter: MAU,
        timestamp: now.toISOString(),
        properties: { user: u },
      })),
    );
  /** A month's distinct values as the aggregator would have stored them (for months before the window). */
  const stored = (org: string, day: string, names: string[]) =>
    admin.query(
      `insert into usage_unique_values (organization_id, meter, month, value_digest)
        select $1, $2, date_trunc('month', $3::date)::date, sha256(convert_to(x, 'UTF8')) from unnest($4::text[]) x
        on conflict do nothing`,
      [org, MAU, day, names],
    );

  const drain = () => drainAggregator(admin, workerPool);

  const onPlan = async (slug: string, key: string) => {
    const org = await createTestOrg(tenancy, slug);
    // Created long before the periods billed here: no day of them is without the plan.
    await admin.query(
      `update organizations set plan = $2, created_at = now() - interval '800 days' where id = $1`,
      [org, key],
    );
    return org;
  };
  const usageLines = (lines: { component: string; quantity: number; amount: number }[]) =>
    lines.map((l) => [l.component, l.quantity, l.amount]);

  it('preview: zero users, then exactly the tier boundary, then past it; repeats and another organization never count', async () => {
    const org = await onPlan('bu-tiers', plan.tiers);
    const other = await onPlan('bu-other', plan.tiers);
    // Zero usage: a graduated line of 0 users, 0.
    let preview = await billing().preview(systemCtx(org, 'billing-unique.test'));
    expect(usageLines(preview.lines)).toEqual([['graduated', 0, 0]]);
    expect(preview.total).toBe(0);
    // 3 distinct users (one of them twice): the boundary, 3 x 100.
    await users(org, ['ann', 'bob', 'ann', 'cy'], 'a-');
    await users(other, ['dee', 'eve', 'fay', 'gus', 'ann'], 'o-');
    await drain();
    preview = await billing().preview(systemCtx(org, 'billing-unique.test'));
    expect(usageLines(preview.lines)).toEqual([['graduated', 3, 300]]);
    expect(preview.total).toBe(300);
    // Two more (and a repeat): 3 x 100 + 2 x 50 = 400, a line per tier.
    await users(org, ['dee', 'bob', 'eve'], 'b-');
    await drain();
    preview = await billing().preview(systemCtx(org, 'billing-unique.test'));
    expect(usageLines(preview.lines)).toEqual([
      ['graduated', 3, 300],
      ['graduated', 2, 100],
    ]);
    expect(preview.total).toBe(preview.lines.reduce((s, l) => s + l.amount, 0));
    // The other organization: its own 5 distinct users.
    const theirs = await billing().preview(systemCtx(other, 'billing-unique.test'));
    expect(usageLines(theirs.lines)).toEqual([
      ['graduated', 3, 300],
      ['graduated', 2, 100],
    ]);
  });

  it('a yearly period counts the distinct values over its months: a user of two months once', async () => {
    const org = await onPlan('bu-year', plan.year);
    const year = calendarPeriod('year', utcDate(now));
    // January (or the current month when it is January) and the current month share one user.
    await stored(org, year.start, ['ann', 'bob']);
    await stored(org, month.start, ['bob', 'cy', 'dee']);
    // The year before: not in this period.
    await stored(org, addDays(year.start, -1), ['old1', 'old2']);
    const preview = await billing().preview(systemCtx(org, 'billing-unique.test'));
    const distinct = 4; // ann, bob, cy, dee
    expect(preview).toMatchObject({ periodStart: year.start, periodEnd: year.end });
    expect(usageLines(preview.lines)).toEqual([['per_unit', distinct, distinct * 10]]);
  });

  it('period close: the ended month is invoiced on its distinct count (no USAGE_NOT_BILLABLE)', async () => {
    const org = await onPlan('bu-close', plan.tiers);
    const previous = calendarPeriod('month', addDays(month.start, -1));
    await stored(org, previous.start, ['p1', 'p2', 'p3', 'p4']);
    await stored(org, month.start, ['p5']); // the next month: not in the closed one
    const closed = await billing().closePeriod(systemCtx(org, 'billing-unique.test'), previous);
    expect(closed.created).toBe(true);
    expect(usageLines(closed.invoice.lines)).toEqual([
      ['graduated', 3, 300],
      ['graduated', 1, 50],
    ]);
    expect(closed.invoice.total).toBe(350);
  });
});
