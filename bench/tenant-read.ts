/**
 * Tenant-scoped read through `withTenant` vs a bare `pg` read of the same row with an explicit
 * `organization_id` filter, same pool size and concurrency, in one process and one run. Runs are
 * interleaved (bare, barePrepared, withTenant, withTenantBuilder, naive4rt, bare, ...) and the median of the
 * rounds is reported, so drift of a shared 2-core machine hits every variant alike. Each variant's CPU is
 * split per read: this Node process (client and load generator) and PostgreSQL (the embedded server's
 * processes; 0 with BENCH_DATABASE_URL, whose server is not a child). CPU per read moves far less with the
 * machine's load than reads/s, so it is the figure to compare when deciding on a change.
 * Usage: npm run bench  (env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY, BENCH_POOL,
 * BENCH_DATABASE_URL, BENCH_ONLY=<variant>[,<variant>...] to run only some variants)
 */
import pg from 'pg';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { findProject } from '../src/modules/projects/projects.repository.js';
import { startCpuAccounting } from './cpu-accounting.js';
import {
  benchDatabase,
  cpuPerOpUs,
  interleavedRounds,
  measure,
  medianRun,
  onlyVariants,
  ratioPrinter,
  seedProjects,
  type RunResult,
} from './harness.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const POOL = Number(process.env.BENCH_POOL ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const READ = { mode: 'read' } as const;

/** One measured round of a variant, with the CPU it used. */
interface Round extends RunResult {
  readonly nodeCpu: number;
  /** User-mode part of nodeCpu: the JavaScript and pg's own work, without the kernel's socket work. */
  readonly nodeUser: number;
  readonly pgCpu: number;
}

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
  // pool.end() resolves before its clients have closed; dropping the database then ends them from the
  // server side, an 'error' that must not crash the run after the figures are printed.
  for (const p of [bare, naivePool]) p.on('error', () => {});

  const all: Record<string, () => Promise<unknown>> = {
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
    // What the application's project read does (projects.repository.ts `findProject`): a read scope
    // running a statement built with Kysely once (src/platform/db/precompiled.ts), RLS, the tenant set in
    // the same round trip.
    withTenant: async () => {
      const r = pick();
      const row = await tenancy.withTenant(r.org, (t) => findProject(t, r.org, r.id), READ);
      if (!row) throw new Error('tenant read missed');
    },
    // The same scope with the query built and compiled by Kysely on every call (context: the builder's
    // share; the application's hot reads do not do this).
    withTenantBuilder: async () => {
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
        READ,
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
  const ops = onlyVariants(all);

  async function measureRound(name: string, op: () => Promise<unknown>): Promise<Round> {
    const cpu = startCpuAccounting(undefined);
    const node = process.cpuUsage();
    const run = await measure(name, SECONDS, CONCURRENCY, op);
    const used = process.cpuUsage(node);
    const split = cpu.stop();
    return {
      ...run,
      nodeCpu: (used.user + used.system) / 1e6,
      nodeUser: used.user / 1e6,
      pgCpu: split.postgres,
    };
  }

  for (const op of Object.values(ops)) await measure('warmup', 1, CONCURRENCY, op);
  const measuredFromUs = process.hrtime.bigint() / 1000n;
  const results = await interleavedRounds(ops, ROUNDS, measureRound);
  // Under --cpu-prof: the measured rounds' window, for bench/profile-summary.ts (leaves out start-up).
  if (process.execArgv.some((a) => a.startsWith('--cpu-prof'))) {
    console.log(`profile window: ${measuredFromUs}-${process.hrtime.bigint() / 1000n}`);
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, rs]) => [
      name,
      {
        ...medianRun(rs),
        nodeUs: cpuPerOpUs(rs, (r) => r.nodeCpu),
        nodeUserUs: cpuPerOpUs(rs, (r) => r.nodeUser),
        pgUs: cpuPerOpUs(rs, (r) => r.pgCpu),
      },
    ]),
  );
  const fmt = (n: number) => n.toFixed(0).padStart(7);
  console.log(
    `tenant-read: ${ROUNDS} rounds x ${SECONDS}s, concurrency ${CONCURRENCY}, pool ${POOL}, PostgreSQL ${db.serverVersion}`,
  );
  for (const [name, s] of Object.entries(summary)) {
    console.log(
      `  ${name.padEnd(17)} ${fmt(s.rate)} reads/s   p50 ${s.p50.toFixed(2)} ms   p99 ${s.p99.toFixed(2)} ms` +
        `   CPU/read: node ${s.nodeUs.toFixed(1)} µs (user ${s.nodeUserUs.toFixed(1)}), postgres ${s.pgUs.toFixed(1)} µs`,
    );
  }
  const ratio = ratioPrinter(summary, 37);
  // The headline is against the PREPARED bare read: withTenant prepares its statements, so the fair
  // baseline does too (the unnamed bare query is printed for context only).
  ratio('withTenant', 'barePrepared', '(headline; target >= 0.85)');
  ratio('withTenant', 'bare', '(unnamed bare query, context)');
  ratio('withTenantBuilder', 'barePrepared', '(Kysely builder per call, context)');
  ratio('naive4rt', 'bare', '');
  await tenancy.close();
  await bare.end();
  await naivePool.end();
} finally {
  await close();
}
