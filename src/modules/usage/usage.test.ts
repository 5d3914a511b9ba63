import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { createMeterCatalog } from './meter-catalog.js';
import { allMeters, toDef } from './meters.repository.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createUsageEventsService, type UsageEventInput } from './usage-events.service.js';
import { createUsageAggregator, maintainUsagePartitions } from './aggregator.js';
import { createUsageRecorder } from './record-usage.js';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';
import { testPool } from '../../../test/support/pools.js';

const DAY = 86_400_000;
const suffix = randomBytes(4).toString('hex');
const M = {
  count: `t.count.${suffix}`,
  sum: `t.sum.${suffix}`,
  max: `t.max.${suffix}`,
  uniq: `t.uniq.${suffix}`,
  latest: `t.latest.${suffix}`,
};

/**
 * A database of its own: the aggregator's watermark is one per database, and another file's app
 * aggregating the suite's database could drain the events this file's crash tests need to crash on.
 * (Its horizon is still the cluster's: see the crash test.)
 */
describe('usage metering on the real database', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let orgA: string;
  let orgB: string;
  let service: ReturnType<typeof createUsageEventsService>;
  const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_usage');
    tenancy = createTenancy({ url: db.url, poolSize: 12, setter: defaultTestSetter() });
    admin = await connect(db.adminUrl);
    workerPool = testPool({ connectionString: db.workerUrl, max: 2 });
    await admin.query(
      `insert into meters (key, aggregation, property) values ($1, 'count', null), ($2, 'sum', null),
        ($3, 'max', 'gb'), ($4, 'unique_count', 'user'), ($5, 'latest', null)`,
      [M.count, M.sum, M.max, M.uniq, M.latest],
    );
    orgA = await createTestOrg(tenancy, 'usage-a');
    orgB = await createTestOrg(tenancy, 'usage-b');
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
    await dropProvisioned(db);
  });

  const ingest = (org: string, events: UsageEventInput[]) =>
    service.ingest(systemCtx(org, 'usage.test'), events);

  it('answers per event: accepted, duplicate, conflict, and errors that store nothing', async () => {
    const ts = at(60_000);
    const first = await ingest(orgA, [
      { id: 'e1', meter: M.sum, value: '1.50', timestamp: ts },
      { id: 'e2', meter: M.count, timestamp: ts },
      { id: 'e1', meter: M.sum, value: 1.5, timestamp: ts }, // same payload inside the batch
      { id: 'e2', meter: M.count, value: 2, timestamp: ts }, // another payload inside the batch
      { id: 'e3', meter: 'no.such.meter', timestamp: ts },
      { id: 'e4', meter: M.sum, value: 1, timestamp: at(8 * DAY) },
      { id: 'e5', meter: M.sum, value: 1, timestamp: new Date(Date.now() + 10 * 60_000).toISOString() },
      { id: 'e6', meter: M.sum, value: 'abc', timestamp: ts },
      { id: 'e7', meter: M.max, value: 3, timestamp: ts }, // max reads property gb: missing
      { id: 'e8', meter: M.uniq, timestamp: ts, properties: { user: 'u1' } },
      { id: 'e9', meter: M.sum, value: 0.1 + 0.2, timestamp: ts }, // 17 significant digits: ask for a string
    ]);
    expect(first.results.map((r) => (r.status === 'error' ? r.error.code : r.status))).toEqual([
      'accepted',
      'accepted',
      'duplicate',
      'conflict',
      'UNKNOWN_METER',
      'TOO_LATE',
      'IN_FUTURE',
      'INVALID_VALUE',
      'INVALID_VALUE',
      'accepted',
      'INVALID_VALUE',
    ]);
    expect(first.results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const again = await ingest(orgA, [
      { id: 'e1', meter: M.sum, value: '1.5', timestamp: ts },
      { id: 'e1b', meter: M.sum, value: '2', timestamp: ts },
      { id: 'e2', meter: M.count, timestamp: at(120_000) },
    ]);
    expect(again.results.map((r) => r.status)).toEqual(['duplicate', 'accepted', 'conflict']);
    // Another organization has its own ids.
    const b = await ingest(orgB, [{ id: 'e1', meter: M.sum, value: '9', timestamp: ts }]);
    expect(b.results[0]!.status).toBe('accepted');
    const stored = await admin.query<{ n: number }>(
      'select count(*)::int as n from usage_events where organization_id = $1',
      [orgA],
    );
    expect(stored.rows[0]!.n).toBe(4);
  });

  it('the same batch sent by 10 clients at once is stored once', async () => {
    const org = await createTestOrg(tenancy, 'usage-conc');
    const ts = at(1000);
    const batch = Array.from({ length: 200 }, (_, i) => ({
      id: `c-${i}`,
      meter: M.sum,
      value: String(i),
      timestamp: ts,
    }));
    const answers = await Promise.all(Array.from({ length: 10 }, () => ingest(org, batch)));
    expect(answers.reduce((n, a) => n + a.accepted, 0)).toBe(200);
    expect(answers.reduce((n, a) => n + a.duplicates, 0)).toBe(1800);
    expect(answers.every((a) => a.conflicts === 0 && a.errors === 0)).toBe(true);
    const stored = await admin.query<{ n: number; s: string }>(
      'select count(*)::int as n, sum(value)::text as s from usage_events where organization_id = $1',
      [org],
    );
    expect(stored.rows[0]).toEqual({ n: 200, s: String((199 * 200) / 2) });
  });

  /** Aggregates of `orgs` that differ from a recomputation from raw events (empty when they agree). */
  async function disagreements(orgs: string[]): Promise<unknown[]> {
    const res = await admin.query<Record<string, unknown>>(
      `with expected as (
         select e.organization_id, e.meter, g.granularity,
                date_trunc(g.granularity, e.occurred_at, 'UTC') as bucket_start,
                case m.aggregation when 'count' then sum(coalesce(e.value, 1)) when 'sum' then sum(e.value)
                  when 'max' then max(e.value) when 'unique_count' then count(distinct e.dimension)
                  else (array_agg(e.value order by e.occurred_at desc, e.id desc))[1] end as value,
                count(*) as events
           from usage_events e join meters m on m.key = e.meter
           cross join (values ('minute'), ('hour'), ('day')) g (granularity)
          where e.organization_id = any ($1::uuid[])
          group by 1, 2, 3, 4, m.aggregation
       ), actual as (
         select organization_id, meter, granularity, bucket_start, value, events from usage_aggregates
          where organization_id = any ($1::uuid[])
       )
       select coalesce(x.meter, a.meter) as meter, coalesce(x.granularity, a.granularity) as g,
              coalesce(x.bucket_start, a.bucket_start) as b, x.value as expected, a.value as actual,
              x.events as expected_events, a.events as actual_events
         from expected x full join actual a using (organization_id, meter, granularity, bucket_start)
        where x.value is distinct from a.value or x.events is distinct from a.events`,
      [orgs],
    );
    return res.rows;
  }

  /** Runs the aggregator until the watermark is past every event stored so far. */
  const drain = (aggregator?: ReturnType<typeof createUsageAggregator>) =>
    drainAggregator(admin, workerPool, aggregator);

  it('aggregates agree exactly with raw events after duplicates, late events and a crash mid-run', async () => {
    const org = await createTestOrg(tenancy, 'usage-agg');
    const events: UsageEventInput[] = [];
    for (let i = 0; i < 300; i++) {
      const ts = at((i % 50) * 61_000 + 1000);
      events.push({ id: `s${i}`, meter: M.sum, value: `${i}.${i % 7}`, timestamp: ts });
      events.push({ id: `c${i}`, meter: M.count, value: (i % 3) + 1, timestamp: ts });
      events.push({ id: `m${i}`, meter: M.max, timestamp: ts, properties: { gb: (i * 37) % 101 } });
      events.push({ id: `u${i}`, meter: M.uniq, timestamp: ts, properties: { user: `u${i % 13}` } });
      events.push({ id: `l${i}`, meter: M.latest, value: i, timestamp: ts });
    }
    await ingest(org, events.slice(0, 700));
    await drain();
    // Duplicates (counted once), more events, and late ones (days ago, inside the window).
    await ingest(org, events.slice(500, 1500));
    await ingest(org, [
      { id: 'late1', meter: M.sum, value: '5', timestamp: at(3 * DAY) },
      { id: 'late2', meter: M.latest, value: '-1', timestamp: at(6 * DAY) },
      { id: 'late3', meter: M.uniq, timestamp: at(2 * DAY), properties: { user: 'late' } },
    ]);
    // A crash between reading and writing, then one between writing and moving the watermark.
    for (const hooks of [
      {
        afterRead: () => {
          throw new Error('crash after read');
        },
      },
      {
        beforeCommit: () => {
          throw new Error('crash before commit');
        },
      },
    ]) {
      // A run finds nothing to do while a transaction anywhere in the cluster (another file's, on another
      // database: transaction ids are the cluster's) holds its horizon back: tried again until it crashes.
      const crashing = createUsageAggregator({ pool: workerPool, latenessMs: 7 * DAY, hooks });
      let crashed = false;
      for (const end = Date.now() + 30_000; !crashed && Date.now() < end;) {
        crashed = await crashing.runOnce().then(
          () => false,
          (e: Error) => /crash/.test(e.message),
        );
        if (!crashed) await new Promise((r) => setTimeout(r, 100));
      }
      expect(crashed).toBe(true);
    }
    await ingest(org, [{ id: 'after-crash', meter: M.sum, value: '0.001', timestamp: at(0) }]);
    await drain();
    expect(await disagreements([org])).toEqual([]);
    const n = await admin.query<{ n: number }>(
      `select count(*)::int as n from usage_aggregates where organization_id = $1`,
      [org],
    );
    expect(n.rows[0]!.n).toBeGreaterThan(0);
  });

  it('recordUsage adds up in memory and flushes through ingestion with deterministic ids', async () => {
    const org = await createTestOrg(tenancy, 'usage-rec');
    const recorder = createUsageRecorder({ events: service });
    for (let i = 0; i < 250; i++) recorder.record({ tenantId: org }, 'api_requests');
    recorder.record({ tenantId: org }, M.sum, 4);
    await recorder.flush();
    await recorder.flush(); // nothing new: no event
    const rows = await admin.query<{ meter: string; value: string | null }>(
      'select meter, value::text from usage_events where organization_id = $1 order by meter',
      [org],
    );
    expect(rows.rows).toEqual([
      { meter: 'api_requests', value: '250' },
      { meter: M.sum, value: '4' },
    ]);
  });

  it('a row of an unknown organization cannot stop aggregation; NaN, huge values, bad meter keys are refused', async () => {
    const org = await createTestOrg(tenancy, 'usage-ghost');
    const ghost = randomUUID();
    const app = await connect(db.url);
    const asRuntime = async (tenant: string, meter: string, value: string) => {
      await app.query('begin');
      try {
        await app.query(`select set_config('app.tenant_id', $1, true)`, [tenant]);
        await app.query(
          `insert into usage_events (organization_id, id, meter, value, occurred_at)
            values ($1, $2, $3, $4::numeric, now())`,
          [tenant, `raw-${randomUUID()}`, meter, value],
        );
        await app.query('commit');
      } catch (e) {
        await app.query('rollback');
        throw e;
      }
    };
    try {
      // No foreign key on usage_events: the runtime role can store a row of an organization that does not exist.
      await asRuntime(ghost, M.sum, '1');
      await expect(asRuntime(org, M.sum, 'NaN')).rejects.toThrow(/usage_events_value_range/);
      await expect(asRuntime(org, M.sum, '1e21')).rejects.toThrow(/usage_events_value_range/);
      await expect(asRuntime(org, 'Bad Meter', '1')).rejects.toThrow(/usage_events_meter_format/);
    } finally {
      await app.end();
    }
    await ingest(org, [{ id: 'after-ghost', meter: M.sum, value: '2', timestamp: at(0) }]);
    await drain();
    expect(await disagreements([org])).toEqual([]);
    const sums = await admin.query<{ organization_id: string; value: string }>(
      `select organization_id, value::text from usage_aggregates
        where organization_id = any ($1::uuid[]) and granularity = 'day'`,
      [[org, ghost]],
    );
    expect(sums.rows).toEqual([{ organization_id: org, value: '2' }]);
  });

  it('the aggregator functions check the range they are given (worker role)', async () => {
    await drain();
    const client = await workerPool.connect();
    const attempt = async (sql: string, params: unknown[]) => {
      await client.query('begin');
      try {
        const r = await client.query<{ from_xid: string; to_xid: string }>(
          'select from_xid::text, to_xid::text from worker_api.app_usage_aggregate_begin()',
        );
        const range = r.rows[0]!;
        await client.query(
          sql,
          params.map((p) => (p === 'FROM' ? range.from_xid : p)),
        );
      } finally {
        await client.query('rollback');
      }
    };
    try {
      const far = '999999999999';
      const ok = new Date(Date.now() - 8 * DAY);
      await expect(
        attempt('select worker_api.app_usage_aggregate_apply($1::xid8, $2::xid8, $3)', ['FROM', far, ok]),
      ).rejects.toThrow(/xmin/);
      await expect(
        attempt('select worker_api.app_usage_aggregate_apply($1::xid8, $1::xid8, $2)', ['FROM', new Date()]),
      ).rejects.toThrow(/a day before the watermark last moved/);
      await expect(
        attempt('select worker_api.app_usage_aggregate_commit($1::xid8, $2::xid8)', ['FROM', far]),
      ).rejects.toThrow(/xmin/);
      // An empty range from the watermark, read from far enough back, is accepted.
      await attempt('select worker_api.app_usage_aggregate_apply($1::xid8, $1::xid8, $2)', ['FROM', ok]);
    } finally {
      client.release();
    }
  });

  it('ingestion refuses ids over 128 bytes, the internal: prefix and built-in meters from clients', async () => {
    const ts = at(1000);
    const res = await ingest(orgA, [
      { id: '😀'.repeat(33), meter: M.sum, value: 1, timestamp: ts }, // 33 characters, 132 bytes
      { id: 'internal:x', meter: M.sum, value: 1, timestamp: ts },
      { id: 'mine', meter: 'api_requests', timestamp: ts },
      { id: '😀'.repeat(32), meter: M.sum, value: 1, timestamp: ts }, // 128 bytes: fine
    ]);
    expect(res.results.map((r) => (r.status === 'error' ? r.error.code : r.status))).toEqual([
      'INVALID_ID',
      'INVALID_ID',
      'METER_RESERVED',
      'accepted',
    ]);
  });

  it('recordUsage sums decimals exactly: 0.1 + 0.2 flushes as 0.3', async () => {
    const org = await createTestOrg(tenancy, 'usage-exact');
    const recorder = createUsageRecorder({ events: service });
    recorder.record({ tenantId: org }, M.sum, 0.1);
    recorder.record({ tenantId: org }, M.sum, 0.2);
    recorder.record({ tenantId: org }, M.sum, '0.000000000001');
    await recorder.flush();
    const rows = await admin.query<{ value: string }>(
      'select value::text from usage_events where organization_id = $1',
      [org],
    );
    expect(rows.rows).toEqual([{ value: '0.300000000001' }]);
  });

  it('the partition job creates the days ahead and drops those past retention', async () => {
    const parts = async () =>
      (
        await admin.query<{ relname: string }>(
          `select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
            where i.inhparent = 'usage_events'::regclass order by 1`,
        )
      ).rows.map((r) => r.relname);
    const day = (offset: number) =>
      `usage_events_p${new Date(Date.now() + offset * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`;
    await admin.query('begin');
    try {
      // An old partition (as the owner would have created it 500 days ago).
      const old = day(-500);
      const from = new Date(Date.now() - 500 * DAY).toISOString().slice(0, 10);
      await admin.query(
        `create table ${old} partition of usage_events for values from ('${from} 00:00Z') to ('${from} 00:00Z'::timestamptz + interval '1 day')`,
      );
      await admin.query(`alter table ${old} owner to "${db.roles.owner}"`);
      await admin.query('commit');
    } catch (e) {
      await admin.query('rollback');
      throw e;
    }
    expect(await parts()).toContain(day(-500));
    const r = await maintainUsagePartitions(workerPool, {
      latenessMs: 7 * DAY,
      aheadDays: 9,
      retentionDays: 400,
    });
    expect(r.dropped).toBeGreaterThanOrEqual(1);
    const now = await parts();
    expect(now).not.toContain(day(-500));
    for (const d of [-8, 0, 1, 9]) expect(now).toContain(day(d));
    // The runtime role cannot run it.
    const app = await connect(db.url);
    try {
      await expect(app.query('select * from worker_api.app_usage_partitions(1, 1, 400)')).rejects.toThrow(
        /permission denied/,
      );
    } finally {
      await app.end();
    }
  });
});
