/**
 * Usage ingestion and summaries (issue 11).
 *
 * Ingestion: `POST /v1/usage/events` of the real composition (in this process, listening on loopback),
 * authenticated by API keys of 100 organizations (scope `usage:write`), batches of 100 and of 1,000
 * events, 1 % of each batch repeating an event an earlier batch of the same organization sent (answered
 * `duplicate`). Request bodies are serialized before the clock starts. Against it, in the same run and
 * process, on the same database: the same rows as one bare `INSERT … SELECT FROM unnest(…) ON CONFLICT DO
 * NOTHING` per batch into a plain table keyed by (organization_id, id), over a `pg` pool of the same size.
 * Rounds interleave the two; medians printed, with CPU per event (this process / PostgreSQL). After the run
 * the stored count is checked exactly: every distinct id once, no duplicate stored.
 *
 * Summaries: BENCH_SUMMARY_EVENTS events (default 1,000,000; the issue's figure is 10,000,000) of one
 * organization spread over the past 6 days are generated in SQL, aggregated by the aggregator, then
 * `GET /v1/usage/summary` (hour buckets over 6 days, over HTTP with an API key) is timed against the same
 * question asked of the raw events (`sum … group by hour`), p50/p99 of each.
 *
 * Usage: npm run bench:ingest  (env: BENCH_EVENTS per batch size and round (200000), BENCH_ROUNDS (2), BENCH_SIZES (100,1000),
 * BENCH_CONCURRENCY (8), BENCH_POOL (10), BENCH_SUMMARY_EVENTS (1000000; 0 skips), BENCH_SUMMARY_SECONDS
 * (5), BENCH_DATABASE_URL)
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { newApiKey } from '../src/modules/api-keys/api-key-format.js';
import { createUsageAggregator } from '../src/modules/usage/aggregator.js';
import { benchDatabase, measure, median, seedProjects } from './harness.js';
import { composeBenchApp } from './identity.js';
import { startCpuAccounting } from './cpu-accounting.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const POOL = Number(process.env.BENCH_POOL ?? 10);
const SUMMARY_EVENTS = Number(process.env.BENCH_SUMMARY_EVENTS ?? 1_000_000);
const SUMMARY_SECONDS = Number(process.env.BENCH_SUMMARY_SECONDS ?? 5);
const SIZES = (process.env.BENCH_SIZES ?? '100,1000').split(',').map(Number);
const ORGS = 100;
const METER = 'bench.bytes';

interface Batch {
  org: number;
  /** The request body, serialized in advance. */
  body: string;
  /** The same rows as columns, for the bare insert. */
  ids: string[];
  values: string[];
  at: string[];
  props: string[];
  fresh: number;
  duplicates: number;
}

interface Round {
  eventsPerSecond: number;
  cpuUs: number;
  pgUs: number;
  /** Cores busy with other processes of the machine meanwhile (a shared machine's noise). */
  foreignCores: number;
}

/** `count` events in batches of `size` over the organizations; 1 % of each batch repeats an earlier one. */
function makeBatches(tag: string, size: number, count: number): Batch[] {
  const sent: { id: string; value: string; at: string; props: string }[][] = Array.from(
    { length: ORGS },
    () => [],
  );
  const batches: Batch[] = [];
  let n = 0;
  for (let b = 0; b < Math.ceil(count / size); b++) {
    const org = b % ORGS;
    const earlier = sent[org]!;
    const events: { id: string; value: string; at: string; props: string }[] = [];
    let duplicates = 0;
    for (let i = 0; i < size; i++) {
      if (i % 100 === 99 && earlier.length > 0) {
        events.push(earlier[(i * 7919) % earlier.length]!);
        duplicates++;
        continue;
      }
      const e = {
        id: `${tag}-${n++}`,
        value: String((n % 977) + 0.25),
        at: new Date(Date.now() - (n % 3_600_000)).toISOString(),
        props: JSON.stringify({ region: `r${n % 5}` }),
      };
      events.push(e);
    }
    for (const e of events.slice(0, 20)) earlier.push(e);
    batches.push({
      org,
      body: JSON.stringify({
        events: events.map((e) => ({
          id: e.id,
          meter: METER,
          value: e.value,
          timestamp: e.at,
          properties: JSON.parse(e.props) as unknown,
        })),
      }),
      ids: events.map((e) => e.id),
      values: events.map((e) => e.value),
      at: events.map((e) => e.at),
      props: events.map((e) => e.props),
      fresh: size - duplicates,
      duplicates,
    });
  }
  return batches;
}

const { db, close } = await benchDatabase();
try {
  const orgs = [...new Set((await seedProjects(db.adminUrl, ORGS, 1)).map((r) => r.org))];
  const admin = new pg.Pool({ connectionString: db.adminUrl, max: POOL });
  // Dropping the database at the end ends idle connections: not an error of the run.
  admin.on('error', () => {});
  await admin.query(`insert into meters (key, aggregation, unit) values ($1, 'sum', 'bytes')`, [METER]);
  const keys: string[] = [];
  for (const org of orgs) {
    const k = newApiKey();
    keys.push(k.key);
    // With its global lookup row (migration 0047), which authentication finds the organization by.
    await admin.query(
      `with k as (insert into api_keys (organization_id, id, key_id, name, scopes, secret_hash, rate_limit_per_minute)
         values ($1, gen_random_uuid(), $2, 'bench', '{usage:write,usage:read}', $3, 100000000) returning id)
       insert into api_key_lookup (key_id, organization_id, api_key_id) select $2, $1, id from k`,
      [org, k.keyId, k.secretHash],
    );
  }
  // The bare baseline's table: the same columns, keyed by (organization_id, id), nothing else.
  await admin.query(`create table bench_usage_bare (organization_id uuid not null, id text not null,
    meter text not null, value numeric, occurred_at timestamptz not null, properties jsonb,
    primary key (organization_id, id))`);

  const c = await composeBenchApp({
    databaseUrl: db.url,
    keyVaultUrl: db.keyVaultUrl,
    poolSize: POOL,
    publicUrl: 'http://127.0.0.1',
    trustProxy: false,
  });
  await c.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(c.app.server.address() as AddressInfo).port}/v1/usage/events`;

  // Under --cpu-prof: each measured HTTP round's window, for bench/profile-summary.ts (its `from-to`).
  const profiling = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
  async function drive(batches: Batch[], send: (b: Batch) => Promise<void>, label?: string): Promise<Round> {
    const cpu = startCpuAccounting(undefined);
    const fromUs = process.hrtime.bigint() / 1000n;
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < batches.length) await send(batches[next++]!);
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    if (profiling && label)
      console.log(`profile window ${label}: ${fromUs}-${process.hrtime.bigint() / 1000n}`);
    const used = cpu.stop();
    const events = batches.reduce((n, b) => n + b.fresh + b.duplicates, 0);
    return {
      eventsPerSecond: events / secs,
      cpuUs: ((used.mainThread + used.otherThreads + used.postgres) / events) * 1e6,
      pgUs: (used.postgres / events) * 1e6,
      foreignCores: used.foreign / used.seconds,
    };
  }
  const expected = { accepted: 0, duplicates: 0 };
  const got = { accepted: 0, duplicates: 0, other: 0 };
  const viaHttp = async (b: Batch) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${keys[b.org]}`, 'content-type': 'application/json' },
      body: b.body,
    });
    if (res.status !== 200) throw new Error(`ingestion answered ${res.status}: ${await res.text()}`);
    const r = (await res.json()) as {
      accepted: number;
      duplicates: number;
      conflicts: number;
      errors: number;
    };
    got.accepted += r.accepted;
    got.duplicates += r.duplicates;
    got.other += r.conflicts + r.errors;
  };
  const bare = async (b: Batch) => {
    await admin.query(
      `insert into bench_usage_bare (organization_id, id, meter, value, occurred_at, properties)
       select $1::uuid, t.id, $2, t.value, t.at, t.props
         from unnest($3::text[], $4::numeric[], $5::timestamptz[], $6::jsonb[]) as t (id, value, at, props)
       on conflict do nothing`,
      [orgs[b.org], METER, b.ids, b.values, b.at, b.props],
    );
  };

  const results: Record<string, { app: Round[]; bare: Round[] }> = {};
  for (const size of SIZES) {
    // Warm-up (not counted in the figures, counted in the check).
    const warm = makeBatches(`w${size}-${randomBytes(3).toString('hex')}`, size, size * 40);
    await drive(warm, viaHttp);
    await drive(warm, bare);
    for (const b of warm) {
      expected.accepted += b.fresh;
      expected.duplicates += b.duplicates;
    }
    for (let round = 0; round < ROUNDS; round++) {
      const batches = makeBatches(`r${size}-${round}-${randomBytes(3).toString('hex')}`, size, EVENTS);
      for (const b of batches) {
        expected.accepted += b.fresh;
        expected.duplicates += b.duplicates;
      }
      const r = (results[size] ??= { app: [], bare: [] });
      r.app.push(await drive(batches, viaHttp, `HTTP batch ${size} round ${round + 1}`));
      r.bare.push(await drive(batches, bare));
    }
  }

  console.log(
    `ingest: ${ROUNDS} rounds x ${EVENTS} events per batch size, ${ORGS} organizations (API keys), ` +
      `${CONCURRENCY} concurrent requests, pool ${POOL}, PostgreSQL ${db.serverVersion}`,
  );
  for (const [size, r] of Object.entries(results)) {
    const m = (rs: Round[], k: keyof Round) => median(rs.map((x) => x[k]));
    const app = m(r.app, 'eventsPerSecond');
    const base = m(r.bare, 'eventsPerSecond');
    console.log(
      `  batch ${size.padStart(4)}: HTTP ${app.toFixed(0).padStart(7)} events/s (cpu ${m(r.app, 'cpuUs').toFixed(1)} µs/event, PostgreSQL ${m(r.app, 'pgUs').toFixed(1)})` +
        `   bare insert ${base.toFixed(0).padStart(7)} events/s (cpu ${m(r.bare, 'cpuUs').toFixed(1)} µs/event, PostgreSQL ${m(r.bare, 'pgUs').toFixed(1)})` +
        `   ratio ${(app / base).toFixed(2)} (CPU per event ${(m(r.bare, 'cpuUs') / m(r.app, 'cpuUs')).toFixed(2)})` +
        `   other processes ${m(r.app, 'foreignCores').toFixed(2)} / ${m(r.bare, 'foreignCores').toFixed(2)} cores`,
    );
  }
  const stored = await admin.query<{ n: string; d: string }>(
    `select count(*) as n, count(*) - count(distinct (organization_id, id)) as d from usage_events where meter = $1`,
    [METER],
  );
  const ok =
    Number(stored.rows[0]!.n) === expected.accepted &&
    Number(stored.rows[0]!.d) === 0 &&
    got.accepted === expected.accepted &&
    got.duplicates === expected.duplicates &&
    got.other === 0;
  console.log(
    `  stored ${stored.rows[0]!.n} events (expected ${expected.accepted}), answered ${got.accepted} accepted / ` +
      `${got.duplicates} duplicate (expected ${expected.duplicates}), ${got.other} other: ${ok ? 'exact' : 'MISMATCH'}`,
  );
  if (!ok) process.exitCode = 1;

  if (SUMMARY_EVENTS > 0) {
    const org = orgs[0]!;
    const t0 = performance.now();
    // Spread over the past 6 days, one statement per million (each its own transaction).
    for (let done = 0; done < SUMMARY_EVENTS; done += 1_000_000) {
      const n = Math.min(1_000_000, SUMMARY_EVENTS - done);
      await admin.query(
        `insert into usage_events (organization_id, id, meter, value, occurred_at)
         select $1, 's' || ($2 + g), 'bench.summary', (g % 1000) + 0.5,
                now() - interval '6 days' * ((g::bigint * 7919) % 1000000) / 1000000.0
           from generate_series(1, $3::int) g`,
        [org, done, n],
      );
    }
    await admin.query(`insert into meters (key, aggregation) values ('bench.summary', 'sum')`);
    const generated = (performance.now() - t0) / 1000;
    const worker = new pg.Pool({ connectionString: db.workerUrl, max: 1 });
    const aggregator = createUsageAggregator({ pool: worker, latenessMs: 7 * 86_400_000 });
    const t1 = performance.now();
    let aggregated = 0;
    for (let i = 0; i < 20; i++) aggregated += await aggregator.runOnce();
    const aggSecs = (performance.now() - t1) / 1000;
    await worker.end();
    // A freshly bulk-loaded table is vacuumed by autovacuum soon after: done here, before timing, so that
    // work does not land inside the measured interval (and the raw scan reads settled pages).
    await admin.query('vacuum (analyze) usage_events, usage_aggregates');
    // On an hour boundary: the summary rounds `from` down to its bucket, the raw query must start there too.
    const from = new Date(Math.floor((Date.now() - 6 * 86_400_000) / 3_600_000) * 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const q = new URLSearchParams({ meter: 'bench.summary', from, to, granularity: 'hour' });
    const summaryUrl = url.replace('/events', `/summary?${q}`);
    const viaAggregates = async () => {
      const res = await fetch(summaryUrl, { headers: { authorization: `Bearer ${keys[0]}` } });
      if (res.status !== 200) throw new Error(`summary answered ${res.status}`);
      await res.arrayBuffer();
    };
    const raw = () =>
      admin.query<{ bucket: Date; sum: string; count: string }>(
        `select date_trunc('hour', occurred_at, 'UTC') as bucket, sum(value), count(*) from usage_events
          where organization_id = $1 and meter = 'bench.summary' and occurred_at >= $2 and occurred_at < $3
          group by 1 order by 1`,
        [org, from, to],
      );
    // The two must agree before either is timed.
    const a = (await (
      await fetch(summaryUrl, { headers: { authorization: `Bearer ${keys[0]}` } })
    ).json()) as {
      buckets: { value: string }[];
    };
    const r = await raw();
    const sumA = a.buckets.reduce((s, b) => s + Number(b.value), 0);
    const sumR = r.rows.reduce((s, b) => s + Number(b.sum), 0);
    const cpu = startCpuAccounting(undefined);
    const agg = await measure('summary', SUMMARY_SECONDS, 1, viaAggregates);
    const busy = cpu.stop();
    const scan = await measure('raw', SUMMARY_SECONDS, 1, raw);
    console.log(
      `  summary over ${SUMMARY_EVENTS} events (generated in ${generated.toFixed(1)} s, ${aggregated} aggregated in ${aggSecs.toFixed(1)} s), ` +
        `${a.buckets.length} hour buckets: from aggregates over HTTP p50 ${agg.p50.toFixed(2)} ms p99 ${agg.p99.toFixed(2)} ms; ` +
        `raw scan (SQL only) p50 ${scan.p50.toFixed(1)} ms p99 ${scan.p99.toFixed(1)} ms (${scan.ops} runs); totals ${sumA === sumR ? 'agree' : `DIFFER (${sumA} vs ${sumR})`}; ` +
        `other processes ${(busy.foreign / busy.seconds).toFixed(2)} cores while the aggregates were timed`,
    );
    if (sumA !== sumR) process.exitCode = 1;
  }

  await c.app.close();
  await c.close();
  await admin.end();
} finally {
  await close();
}
