import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { FREE_PRICE } from '../../../test/support/polling.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createMeterCatalog } from '../usage/meter-catalog.js';
import { allMeters, toDef } from '../usage/meters.repository.js';
import { createUsageEventsService } from '../usage/usage-events.service.js';
import { UNIT } from './quota-model.js';
import { createQuotaNotices } from './quota-notices.js';
import { listNotices, quotaUsage, uniqueLookup } from './quotas.repository.js';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';

const DAY = 86_400_000;
const suffix = randomBytes(4).toString('hex');
const UNIQ = `t.qum.${suffix}`;
const PLAN = `qum-${suffix}`;

/**
 * A monthly `unique_count` quota reads the month's `usage_unique_values` (migration 0063) and the events
 * the aggregator has not reached yet: exact before and after aggregation, never another organization's.
 */
describe('monthly unique_count quota reads', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let service: ReturnType<typeof createUsageEventsService>;
  let a: string;
  let b: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(6);
    admin = await connect(db.adminUrl);
    workerPool = new pg.Pool({ connectionString: db.workerUrl, max: 2 });
    await admin.query(`insert into meters (key, aggregation, property) values ($1, 'unique_count', 'user')`, [
      UNIQ,
    ]);
    await admin.query(`insert into plans (key, name, price, quotas) values ($1, 'Q', $2, $3)`, [
      PLAN,
      JSON.stringify(FREE_PRICE),
      JSON.stringify([{ meter: UNIQ, period: 'month', limit: 1000, enforcement: 'hard' }]),
    ]);
    a = await createTestOrg(tenancy, 'qum-a');
    b = await createTestOrg(tenancy, 'qum-b');
    await admin.query('update organizations set plan = $1 where id = any ($2::uuid[])', [PLAN, [a, b]]);
    const platformDb = createPlatformDb(tenancy.control.pool);
    service = createUsageEventsService({
      withTenant: tenancy.withTenant,
      meters: createMeterCatalog({ load: async () => (await allMeters(platformDb)).map(toDef) }),
      settings: { latenessMs: 7 * DAY, futureMs: 5 * 60_000 },
    });
  });
  afterAll(async () => {
    await workerPool.end();
    await admin.end();
    await tenancy.close();
  });

  const ingest = (org: string, users: string[], prefix: string, at = Date.now() - 1000) =>
    service.ingest(
      systemCtx(org, 'quota-unique-month.test'),
      users.map((u, i) => ({
        id: `${prefix}${i}`,
        meter: UNIQ,
        timestamp: new Date(at).toISOString(),
        properties: { user: u },
      })),
    );

  const drain = () => drainAggregator(admin, workerPool);

  /** The month's distinct count (whole values) and the lookup of `values`, with and without the lateness bound. */
  async function read(org: string, values: string[]) {
    const now = Date.now();
    const out = [];
    for (const lateness of [undefined, 7 * DAY]) {
      const rows = await tenancy.withTenant(org, (t) => quotaUsage(t, org, now, lateness), { mode: 'read' });
      const row = rows.find((r) => r.meter === UNIQ && r.period === 'month')!;
      const looked = await tenancy.withTenant(
        org,
        (t) => uniqueLookup(t, org, UNIQ, values, row.periodStart, row.periodEnd, lateness),
        { mode: 'read' },
      );
      out.push({ usage: row.usage / UNIT, distinct: looked.distinct, present: looked.present.sort() });
    }
    expect(out[0]).toEqual(out[1]);
    return out[0]!;
  }

  it('counts aggregated and not yet aggregated values exactly, and none of another organization', async () => {
    await ingest(a, ['u1', 'u2', 'u3', 'u2'], 'a1-');
    await ingest(b, ['u1', 'b1', 'b2', 'b3', 'b4'], 'b1-');
    // Not aggregated yet (or partly, whatever the suite's other aggregators did): the same answer.
    const before = await read(a, ['u1', 'u4', 'b1']);
    expect(before).toEqual({ usage: 3n, distinct: 3, present: ['u1'] });
    await drain();
    expect(await read(a, ['u1', 'u4', 'b1'])).toEqual(before);
    // More events, not aggregated: a repeated value, a new one, one only B has.
    await ingest(a, ['u3', 'u4', 'u4'], 'a2-');
    expect(await read(a, ['u1', 'u4', 'b1', 'u9'])).toEqual({
      usage: 4n,
      distinct: 4,
      present: ['u1', 'u4'],
    });
    await drain();
    expect(await read(a, ['u1', 'u4', 'b1', 'u9'])).toEqual({
      usage: 4n,
      distinct: 4,
      present: ['u1', 'u4'],
    });
    expect(await read(b, ['u1', 'u4'])).toEqual({ usage: 5n, distinct: 5, present: ['u1'] });
  });

  it('answers from usage_unique_values, not from the month’s raw events', async () => {
    const org = await createTestOrg(tenancy, 'qum-table');
    await admin.query('update organizations set plan = $1 where id = $2', [PLAN, org]);
    await ingest(org, ['v1', 'v2'], 't-');
    await drain();
    expect((await read(org, ['v1', 'ghost'])).usage).toBe(2n);
    // A value the table holds with no event behind it (only the table could have told).
    await admin.query(
      `insert into usage_unique_values (organization_id, meter, month, value_digest)
        values ($1, $2, date_trunc('month', now() at time zone 'UTC')::date, sha256(convert_to('ghost', 'UTF8')))`,
      [org, UNIQ],
    );
    expect(await read(org, ['v1', 'ghost'])).toEqual({ usage: 3n, distinct: 3, present: ['ghost', 'v1'] });
  });

  it('the owners’ notice reads the month as the hard quota does: a late event past the watermark counts', async () => {
    const soft = `${PLAN}-soft`;
    await admin.query(`insert into plans (key, name, price, quotas) values ($1, 'Q', $2, $3)`, [
      soft,
      JSON.stringify(FREE_PRICE),
      JSON.stringify([{ meter: UNIQ, period: 'month', limit: 2, enforcement: 'soft' }]),
    ]);
    const org = await createTestOrg(tenancy, 'qum-notice');
    await admin.query('update organizations set plan = $1 where id = $2', [soft, org]);
    const notices = createQuotaNotices({
      withTenant: tenancy.withTenant,
      publicUrl: 'http://localhost',
      latenessMs: 7 * DAY,
    });
    // Late events: three days old (within the lateness window), checked in their own month.
    const late = Date.now() - 3 * DAY;
    const days = new Map([[org, [late]]]);
    const thresholds = async () =>
      (await tenancy.withTenant(org, (t) => listNotices(t, org), { mode: 'read' })).map((n) => n.threshold);
    await ingest(org, ['n1'], 'n1-', late);
    await drain();
    expect(await notices.check([org], days)).toBe(0); // 1 of 2: under 80 %
    // The watermark held where it is (no aggregator run can move it) while the second late value is
    // ingested and the notice checked: the value is only in the raw events past the watermark.
    await admin.query('begin');
    try {
      await admin.query('select 1 from usage_aggregator_state for update');
      await ingest(org, ['n2'], 'n2-', late);
      const past = await admin.query<{ n: string }>(
        `select count(*)::text as n from usage_events where organization_id = $1 and meter = $2
           and xid >= (select horizon::text::bigint from usage_aggregator_state)`,
        [org, UNIQ],
      );
      expect(past.rows[0]!.n).toBe('1');
      expect(await notices.check([org], days)).toBe(2);
    } finally {
      await admin.query('rollback');
    }
    expect((await thresholds()).sort()).toEqual([100, 80]);
  });
});
