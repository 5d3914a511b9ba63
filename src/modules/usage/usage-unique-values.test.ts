import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { uncheckedTest } from '../../platform/tenancy/explicit-filters.js';
import { createMeterCatalog } from './meter-catalog.js';
import { allMeters, toDef } from './meters.repository.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createUsageEventsService, type UsageEventInput } from './usage-events.service.js';
import { createUsageAggregator, maintainUsagePartitions } from './aggregator.js';
import { kindDatabase, type KindDatabase } from '../../../test/support/placement-kinds.js';
import { tenantSchemaName } from '../../platform/tenancy/placed-tables.js';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';
import { testPool } from '../../../test/support/pools.js';

const DAY = 86_400_000;
const suffix = randomBytes(4).toString('hex');
const UNIQ = `t.uv.${suffix}`;
const UNIQ2 = `t.uv2.${suffix}`;
const SUM = `t.uvsum.${suffix}`;

function usageService(tenancy: Tenancy) {
  const platformDb = createPlatformDb(tenancy.control.pool);
  return createUsageEventsService({
    withTenant: tenancy.withTenant,
    meters: createMeterCatalog({ load: async () => (await allMeters(platformDb)).map(toDef) }),
    settings: { latenessMs: 7 * DAY, futureMs: 5 * 60_000 },
  });
}

/**
 * The distinct values per month of unique_count meters (migration 0063), kept by the aggregator. A
 * database of its own: the retention test's partition maintenance makes partitions 9 days ahead (DDL:
 * CREATE TABLE ... PARTITION OF locks usage_events, ACCESS EXCLUSIVE, for other files' usage writes) and
 * counts what it purged over the whole database.
 */
describe('usage_unique_values on the real database', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let service: ReturnType<typeof createUsageEventsService>;
  const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_usage_unique');
    tenancy = createTenancy({ url: db.url, poolSize: 6, setter: defaultTestSetter() });
    admin = await connect(db.adminUrl);
    workerPool = testPool({ connectionString: db.workerUrl, max: 2 });
    await admin.query(
      `insert into meters (key, aggregation, property) values ($1, 'unique_count', 'user'),
        ($2, 'unique_count', 'ip'), ($3, 'sum', null)`,
      [UNIQ, UNIQ2, SUM],
    );
    service = usageService(tenancy);
  });
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  const ingest = (org: string, events: UsageEventInput[]) =>
    service.ingest(systemCtx(org, 'usage-unique-values.test'), events);

  const drain = (aggregator?: ReturnType<typeof createUsageAggregator>) =>
    drainAggregator(admin, workerPool, aggregator);

  /** Rows of the table that differ from a recomputation from raw events (empty when they agree). */
  async function disagreements(orgs: string[]): Promise<unknown[]> {
    const res = await admin.query<Record<string, unknown>>(
      `with expected as (
         select distinct e.organization_id, e.meter, date_trunc('month', e.occurred_at at time zone 'UTC')::date as month,
                sha256(convert_to(e.dimension, 'UTF8')) as value_digest
           from usage_events e join meters m on m.key = e.meter and m.aggregation = 'unique_count'
          where e.organization_id = any ($1::uuid[]) and e.dimension is not null
       ), actual as (
         select organization_id, meter, month, value_digest from usage_unique_values
          where organization_id = any ($1::uuid[])
       )
       select x.meter as expected_meter, a.meter as actual_meter, coalesce(x.month, a.month) as month
         from expected x full join actual a using (organization_id, meter, month, value_digest)
        where x.meter is null or a.meter is null`,
      [orgs],
    );
    return res.rows;
  }

  it('holds exactly the distinct values of the raw events per month after duplicates, late events and crashes', async () => {
    const a = await createTestOrg(tenancy, 'uv-a');
    const b = await createTestOrg(tenancy, 'uv-b');
    const events = (prefix: string): UsageEventInput[] =>
      Array.from({ length: 400 }, (_, i): UsageEventInput => ({
        id: `${prefix}${i}`,
        meter: i % 4 === 0 ? UNIQ2 : i % 5 === 0 ? SUM : UNIQ,
        value: i % 5 === 0 && i % 4 !== 0 ? 1 : undefined,
        // Spread over the lateness window (six days back): a month boundary falls inside it part of the time.
        timestamp: at((i % 37) * 4 * 3_600_000 + 1000),
        properties: i % 4 === 0 ? { ip: `10.0.0.${i % 9}` } : { user: i % 2 ? `u${i % 23}` : i % 11 },
      }));
    await ingest(a, events('a').slice(0, 250));
    await ingest(b, events('b').slice(100, 300));
    await drain();
    expect(await disagreements([a, b])).toEqual([]);
    // Duplicates (stored once), new events, late ones (days back, inside the window), the same values in B.
    await ingest(a, events('a').slice(200, 400));
    await ingest(a, [
      { id: 'late1', meter: UNIQ, timestamp: at(6 * DAY), properties: { user: 'late' } },
      { id: 'late2', meter: UNIQ, timestamp: at(5 * DAY), properties: { user: 'u1' } },
    ]);
    await ingest(b, [{ id: 'late1', meter: UNIQ, timestamp: at(6 * DAY), properties: { user: 'late' } }]);
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
      // Another file's aggregator may hold the watermark (SKIP LOCKED: this run does nothing): try again.
      const crashing = createUsageAggregator({ pool: workerPool, latenessMs: 7 * DAY, hooks });
      for (let i = 0; i < 20; i++) {
        const crashed = await crashing.runOnce().then(
          () => false,
          (e: Error) => /crash/.test(e.message),
        );
        if (crashed) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await drain();
    expect(await disagreements([a, b])).toEqual([]);
    // Each organization has its own rows; nothing of another's.
    const counts = await admin.query<{ organization_id: string; n: number }>(
      `select organization_id, count(*)::int as n from usage_unique_values
        where organization_id = any ($1::uuid[]) group by 1 order by 1`,
      [[a, b]],
    );
    expect(counts.rows.length).toBe(2);
    expect(counts.rows.every((r) => r.n > 0)).toBe(true);
  });

  it('the runtime role reads its own rows only and cannot write any', async () => {
    const a = await createTestOrg(tenancy, 'uv-rls-a');
    const b = await createTestOrg(tenancy, 'uv-rls-b');
    await ingest(a, [{ id: 'x', meter: UNIQ, timestamp: at(1000), properties: { user: 'x' } }]);
    await ingest(b, [{ id: 'y', meter: UNIQ, timestamp: at(1000), properties: { user: 'y' } }]);
    await drain();
    uncheckedTest('rlsBackstop'); // no filter of the organization on purpose: RLS alone answers the scope's rows
    const rows = await tenancy.withTenant(
      a,
      async (t) =>
        (await sql<{ organization_id: string }>`select organization_id from usage_unique_values`.execute(t))
          .rows,
    );
    expect(rows).toEqual([{ organization_id: a }]);
    const app = await connect(db.url);
    try {
      await app.query('begin');
      await app.query(`select set_config('app.tenant_id', $1, true)`, [a]);
      await expect(
        app.query(
          `insert into usage_unique_values (organization_id, meter, month, value_digest)
            values ($1, $2, date '2026-01-01', sha256('z'::bytea))`,
          [a, UNIQ],
        ),
      ).rejects.toThrow(/permission denied/);
      await app.query('rollback');
    } finally {
      await app.end();
    }
  });

  it('retention drops the months before its cut-off (800 days back here), and keeps the others', async () => {
    const org = await createTestOrg(tenancy, 'uv-retention');
    await admin.query(
      `insert into usage_unique_values (organization_id, meter, month, value_digest)
        values ($1, $2, date_trunc('month', now() - interval '800 days')::date, sha256('old'::bytea)),
               ($1, $2, date_trunc('month', now() at time zone 'UTC')::date, sha256('now'::bytea))`,
      [org, UNIQ],
    );
    const r = await maintainUsagePartitions(workerPool, {
      latenessMs: 7 * DAY,
      aheadDays: 9,
      retentionDays: 400,
    });
    expect(r.uniquePurged).toBeGreaterThanOrEqual(1);
    const left = await admin.query<{ n: number }>(
      'select count(*)::int as n from usage_unique_values where organization_id = $1',
      [org],
    );
    expect(left.rows[0]!.n).toBe(1);
  });
});

/**
 * On the shared `placements` database (test/support/placement-kinds.ts), never the suite's own: a schema
 * left in the suite's database would fail the pooled kind's catalog and grant checks running meanwhile.
 */
describe('usage_unique_values of a schema-placed organization', () => {
  let kd: KindDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let service: ReturnType<typeof createUsageEventsService>;
  const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();

  beforeAll(async () => {
    kd = await kindDatabase('schema');
    tenancy = kd.tenancy(4);
    admin = await connect(kd.db.adminUrl);
    workerPool = testPool({ connectionString: kd.db.workerUrl, max: 2 });
    await admin.query(`insert into meters (key, aggregation, property) values ($1, 'unique_count', 'user')`, [
      UNIQ,
    ]);
    service = usageService(tenancy);
  });
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
  });

  const ingest = (org: string, events: UsageEventInput[]) =>
    service.ingest(systemCtx(org, 'usage-unique-values.test'), events);
  const drain = () => drainAggregator(admin, workerPool);

  it('a schema-placed organization: its values land in its schema (filled on the first run that sees the table), none in public', async () => {
    const placed = await createTestOrg(tenancy, 'uv-placed');
    const pooled = await createTestOrg(tenancy, 'uv-pooled');
    // Events stored (and maybe aggregated) before the move: the move copies the rows it has.
    await ingest(placed, [{ id: 'p0', meter: UNIQ, timestamp: at(1000), properties: { user: 'before' } }]);
    await drain();
    await kd.place(tenancy, placed);
    const schema = tenantSchemaName(placed);
    await ingest(placed, [
      { id: 'p1', meter: UNIQ, timestamp: at(1000), properties: { user: 'x' } },
      { id: 'p2', meter: UNIQ, timestamp: at(2 * DAY), properties: { user: 'y' } },
      { id: 'p3', meter: UNIQ, timestamp: at(1000), properties: { user: 'x' } },
    ]);
    await ingest(pooled, [{ id: 'q1', meter: UNIQ, timestamp: at(1000), properties: { user: 'x' } }]);
    await drain();
    const rows = async (nsp: string, org: string) =>
      (
        await admin.query<{ n: number }>(
          `select count(*)::int as n from "${nsp}".usage_unique_values where organization_id = $1`,
          [org],
        )
      ).rows[0]!.n;
    const expected = (
      await admin.query<{ n: number }>(
        `select count(distinct (date_trunc('month', occurred_at at time zone 'UTC'), dimension))::int as n
           from "${schema}".usage_events where organization_id = $1`,
        [placed],
      )
    ).rows[0]!.n;
    expect(expected).toBeGreaterThanOrEqual(3);
    expect(await rows(schema, placed)).toBe(expected);
    expect(await rows('public', placed)).toBe(0);
    expect(await rows('public', pooled)).toBe(1);
  });
});
