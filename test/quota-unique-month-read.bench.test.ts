import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import pg from 'pg';
import { sql } from 'kysely';
import { connect, createTestOrg, createTestTenancy, testDb } from './support/tenancy.js';
import type { Tenancy } from '../src/platform/tenancy/tenancy.js';
import { createUsageAggregator } from '../src/modules/usage/aggregator.js';
import { quotaUsage, uniqueLookup } from '../src/modules/quotas/quotas.repository.js';
import { FREE_PRICE } from './support/polling.js';
import { periodBounds } from '../src/modules/quotas/quota-model.js';

/**
 * What a monthly unique_count quota read costs, before and after migration 0063 (docs/plans.md): the
 * month's raw events (`count(distinct dimension)`, as before) against `quotaUsage` and `uniqueLookup`
 * (the month's `usage_unique_values` plus the events past the watermark). Not part of the suite: run with
 * `BENCH_UNIQUE_READ=1 TEST_DATABASE_URL=… npx vitest run test/quota-unique-month-read.bench.test.ts`
 * (BENCH_EVENTS, BENCH_DISTINCT to size it). Prints medians of 15 interleaved runs.
 */
const DAY = 86_400_000;
const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const DISTINCT = Number(process.env.BENCH_DISTINCT ?? 2_000);
const s = randomBytes(3).toString('hex');
const UNIQ = `bench.u.${s}`;
const PLAN = `bench-${s}`;
describe.skipIf(!process.env.BENCH_UNIQUE_READ)('monthly unique_count read cost', () => {
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let org: string;
  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    admin = await connect(testDb().adminUrl);
    workerPool = new pg.Pool({ connectionString: testDb().workerUrl, max: 2 });
    await admin.query(`insert into meters (key, aggregation, property) values ($1, 'unique_count', 'user')`, [
      UNIQ,
    ]);
    await admin.query(`insert into plans (key, name, price, quotas) values ($1, 'B', $2, $3)`, [
      PLAN,
      JSON.stringify(FREE_PRICE),
      JSON.stringify([{ meter: UNIQ, period: 'month', limit: 1000000, enforcement: 'hard' }]),
    ]);
    org = await createTestOrg(tenancy, 'bench');
    await admin.query('update organizations set plan = $1 where id = $2', [PLAN, org]);
    // N events over the month so far (whole days back to the month's start, within existing partitions).
    const monthStart = periodBounds('month', Date.now()).start;
    const span = Math.max(60_000, Math.min(Date.now() - monthStart, 7 * DAY) - 60_000);
    await admin.query(
      `insert into usage_events (organization_id, id, meter, dimension, occurred_at)
      select $1, 'e' || g, $2, 'user-' || (g % $3), now() - (g % 1000) * ($4::bigint / 1000) * interval '1 millisecond'
      from generate_series(1, $5) g`,
      [org, UNIQ, DISTINCT, span, N],
    );
    await admin.query('analyze usage_events');
    // Steady state: the BRIN ranges summarized (autovacuum's autosummarize does it after the fact).
    await admin.query(
      `select brin_summarize_new_values(c.oid) from pg_class c where c.relname like 'usage_events_p%xid_idx'`,
    );
    const agg = createUsageAggregator({ pool: workerPool, latenessMs: 7 * DAY });
    const target = await admin.query<{ x: string }>('select pg_current_xact_id()::text as x');
    for (let i = 0; ; i++) {
      if (i === 2000) throw new Error('not drained');
      await agg.runOnce();
      const h = await admin.query<{ done: boolean }>(
        'select horizon > $1::xid8 as done from usage_aggregator_state',
        [target.rows[0]!.x],
      );
      if (h.rows[0]!.done) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 600_000);
  afterAll(async () => {
    await workerPool.end();
    await admin.end();
    await tenancy.close();
  });

  it('old vs new month read', async () => {
    const now = Date.now();
    const m = periodBounds('month', now);
    const old = () =>
      tenancy.withTenant(
        org,
        async (t) =>
          (
            await sql<{ n: string }>`select count(distinct e.dimension)::text as n from usage_events e
      where e.organization_id = ${org} and e.meter = ${UNIQ} and e.occurred_at >= ${new Date(m.start)} and e.occurred_at < ${new Date(m.end)}`.execute(
              t,
            )
          ).rows[0]!.n,
        { mode: 'read' },
      );
    const neu = () =>
      tenancy.withTenant(
        org,
        async (t) => String((await quotaUsage(t, org, now, 7 * DAY))[0]!.usage / 10n ** 12n),
        { mode: 'read' },
      );
    const look = () =>
      tenancy.withTenant(
        org,
        async (t) =>
          String((await uniqueLookup(t, org, UNIQ, ['user-1', 'x'], m.start, m.end, 7 * DAY)).distinct),
        { mode: 'read' },
      );
    console.log(
      'table rows',
      (
        await admin.query('select count(*)::int as n from usage_unique_values where organization_id = $1', [
          org,
        ])
      ).rows[0],
    );
    console.log('counts', await old(), await neu(), await look());
    const times: Record<string, number[]> = { old: [], neu: [], look: [] };
    for (let i = 0; i < 15; i++) {
      for (const [k, f] of Object.entries({ old, neu, look })) {
        const t0 = process.hrtime.bigint();
        await f();
        times[k]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2);
    console.log(
      `N=${N} distinct=${DISTINCT} median ms: old ${med(times.old!)} new ${med(times.neu!)} lookup ${med(times.look!)}`,
    );
  }, 600_000);
});
