/**
 * Tenant-scoped read through `withTenant` vs a bare `pg` read of the same row with an explicit
 * `organization_id` filter, same pool size and concurrency, in one process and one run. Runs are
 * interleaved (bare, barePrepared, withTenant, naive4rt, bare, ...) and the median of the rounds is
 * reported, so drift of a shared 2-core machine hits every variant alike.
 * Usage: npm run bench  (env: BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_POOL, BENCH_DATABASE_URL)
 */
import pg from 'pg';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { benchDatabase, measure, median, seedProjects, type RunResult } from './harness.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const POOL = Number(process.env.BENCH_POOL ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const { db, close } = await benchDatabase();
try {
  const rows = await seedProjects(db.adminUrl, 100, 100);
  const pick = () => rows[Math.floor(Math.random() * rows.length)]!;
  const SQL = 'select * from projects where organization_id = $1 and id = $2';

  // Baseline: bare pg, explicit filter, no tenant setting (superuser, so RLS does not hide the row).
  const bare = new pg.Pool({ connectionString: db.adminUrl, max: POOL });
  // Naive tenant read for reference: BEGIN; set_config; SELECT; COMMIT (four round trips).
  const naivePool = new pg.Pool({ connectionString: db.url, max: POOL });
  const tenancy = createTenancy({ url: db.url, poolSize: POOL });

  const ops: Record<string, () => Promise<unknown>> = {
    bare: async () => {
      const r = pick();
      const res = await bare.query(SQL, [r.org, r.id]);
      if (res.rowCount !== 1) throw new Error('bare read missed');
    },
    // The same bare read as a named prepared statement: what withTenant's statement cache also does.
    barePrepared: async () => {
      const r = pick();
      const res = await bare.query({ name: 'bench_read', text: SQL, values: [r.org, r.id] });
      if (res.rowCount !== 1) throw new Error('bare read missed');
    },
    withTenant: async () => {
      const r = pick();
      const row = await tenancy.withTenant(
        r.org,
        (t) =>
          t
            .selectFrom('projects')
            .selectAll()
            .where('organization_id', '=', r.org)
            .where('id', '=', r.id)
            .executeTakeFirst(),
        { mode: 'read' },
      );
      if (!row) throw new Error('tenant read missed');
    },
    naive4rt: async () => {
      const r = pick();
      const c = await naivePool.connect();
      try {
        await c.query('begin');
        await c.query(`select set_config('app.tenant_id', $1, true)`, [r.org]);
        const res = await c.query(SQL, [r.org, r.id]);
        await c.query('commit');
        if (res.rowCount !== 1) throw new Error('naive read missed');
      } finally {
        c.release();
      }
    },
  };

  for (const op of Object.values(ops)) await measure('warmup', 1, CONCURRENCY, op);
  const results: Record<string, RunResult[]> = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of Object.entries(ops))
      results[name]!.push(await measure(name, SECONDS, CONCURRENCY, op));
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, rs]) => [
      name,
      {
        rate: median(rs.map((r) => r.rate)),
        p99: median(rs.map((r) => r.p99)),
        p50: median(rs.map((r) => r.p50)),
      },
    ]),
  );
  const fmt = (n: number) => n.toFixed(0).padStart(7);
  console.log(
    `tenant-read: ${ROUNDS} rounds x ${SECONDS}s, concurrency ${CONCURRENCY}, pool ${POOL}, PostgreSQL ${db.serverVersion}`,
  );
  for (const [name, s] of Object.entries(summary)) {
    console.log(
      `  ${name.padEnd(11)} ${fmt(s.rate)} reads/s   p50 ${s.p50.toFixed(2)} ms   p99 ${s.p99.toFixed(2)} ms`,
    );
  }
  // The headline is against the PREPARED bare read: withTenant prepares its statements, so the fair
  // baseline does too (the unnamed bare query is printed for context only).
  const headline = summary.withTenant!.rate / summary.barePrepared!.rate;
  console.log(`  ratio withTenant/barePrepared = ${headline.toFixed(3)}  (headline; target >= 0.85)`);
  console.log(
    `  ratio withTenant/bare         = ${(summary.withTenant!.rate / summary.bare!.rate).toFixed(3)}  (unnamed bare query, context)`,
  );
  console.log(
    `  ratio naive4rt/bare           = ${(summary.naive4rt!.rate / summary.bare!.rate).toFixed(3)}`,
  );
  await tenancy.close();
  await bare.end();
  await naivePool.end();
} finally {
  await close();
}
