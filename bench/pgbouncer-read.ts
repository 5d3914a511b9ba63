/**
 * The tenant read through PgBouncer in transaction pooling mode (1.18, DB_STATEMENT_CACHE=off) against the
 * same bare read through the same PgBouncer: `withTenant` running the app's precompiled `findProject`
 * (RLS, the tenant set in the same round trip, every statement unnamed) vs a bare `pg` read of the same
 * row, unnamed statement, explicit `organization_id` filter, same pool size (client pool and the
 * bouncer's server pool), same concurrency, one process, interleaved rounds, medians. The bouncer is the
 * recommended configuration (DISCARD ALL after every transaction, docs/pgbouncer.md); the same two reads
 * through a bouncer without the reset, and direct (no bouncer: the tenant read with the statement cache
 * on, as by default, and off), are printed for context. CPU per read split between this process, the
 * bouncer(s) and PostgreSQL (the database's backends).
 * Usage: npm run bench:pgbouncer  (env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY, BENCH_POOL,
 * BENCH_DATABASE_URL, BENCH_ONLY=<variant>[,<variant>...])
 */
import pg from 'pg';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { setStatementCache } from '../src/platform/tenancy/pipelined-query.js';
import { findProject } from '../src/modules/projects/projects.repository.js';
import { startPgBouncer, type PgBouncer } from '../test/support/pgbouncer.js';
import { startConsumerAccounting } from './cpu-accounting.js';
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
const SQL = 'select * from projects where organization_id = $1 and id = $2';

interface Round extends RunResult {
  readonly nodeCpu: number;
  readonly bouncerCpu: number;
  readonly pgCpu: number;
}

/** A variant: its read, and whether the process-wide statement cache is on while it runs. */
interface Variant {
  readonly cache: boolean;
  readonly op: () => Promise<unknown>;
}

const { db, close } = await benchDatabase();
const bouncers: PgBouncer[] = [];
const pools: { end(): Promise<void> }[] = [];
try {
  const rows = await seedProjects(db.adminUrl, 100, 100);
  const pick = () => rows[Math.floor(Math.random() * rows.length)]!;
  const superuserUrl = db.superuserUrl;
  const reset = await startPgBouncer({ superuserUrl, poolSize: POOL });
  const noReset = await startPgBouncer({ superuserUrl, poolSize: POOL, resetAfterTransaction: false });
  bouncers.push(reset, noReset);

  const tenantRead = (url: string) => {
    const tenancy = createTenancy({ url, poolSize: POOL });
    pools.push({ end: () => tenancy.close() });
    return async () => {
      const r = pick();
      const row = await tenancy.withTenant(r.org, (t) => findProject(t, r.org, r.id), READ);
      if (!row) throw new Error('tenant read missed');
    };
  };
  // Superuser, as npm run bench's bare read: RLS does not hide the row, no tenant is set.
  const bareRead = (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: POOL });
    pool.on('error', () => {});
    pools.push(pool);
    return async () => {
      const r = pick();
      const res = await pool.query(SQL, [r.org, r.id]);
      if (res.rowCount !== 1) throw new Error('bare read missed');
    };
  };

  const all: Record<string, Variant> = {
    bouncerBare: { cache: false, op: bareRead(reset.via(db.adminUrl)) },
    bouncerTenant: { cache: false, op: tenantRead(reset.via(db.url)) },
    noResetBare: { cache: false, op: bareRead(noReset.via(db.adminUrl)) },
    noResetTenant: { cache: false, op: tenantRead(noReset.via(db.url)) },
    directBare: { cache: false, op: bareRead(db.adminUrl) },
    directTenant: { cache: true, op: tenantRead(db.url) },
    directTenantUncached: { cache: false, op: tenantRead(db.url) },
  };
  const variants = onlyVariants(all);

  const bouncerPids = bouncers.map((b) => b.pid);
  async function measureRound(name: string, v: Variant): Promise<Round> {
    // One variant at a time: the process-wide setting is the variant's for its whole round.
    setStatementCache(v.cache);
    const cpu = startConsumerAccounting({
      consumers: { pgbouncer: bouncerPids },
      postgresDatabase: db.database,
    });
    const run = await measure(name, SECONDS, CONCURRENCY, v.op);
    const split = cpu.stop().cpu;
    return {
      ...run,
      nodeCpu: split.harness ?? 0,
      bouncerCpu: split.pgbouncer ?? 0,
      pgCpu: split.postgres ?? 0,
    };
  }

  for (const v of Object.values(variants)) {
    setStatementCache(v.cache);
    await measure('warmup', 1, CONCURRENCY, v.op);
  }
  const results = await interleavedRounds(variants, ROUNDS, measureRound);
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, rs]) => [
      name,
      {
        ...medianRun(rs),
        nodeUs: cpuPerOpUs(rs, (r) => r.nodeCpu),
        bouncerUs: cpuPerOpUs(rs, (r) => r.bouncerCpu),
        pgUs: cpuPerOpUs(rs, (r) => r.pgCpu),
      },
    ]),
  );
  const fmt = (n: number) => n.toFixed(0).padStart(7);
  console.log(
    `pgbouncer-read: ${ROUNDS} rounds x ${SECONDS}s, concurrency ${CONCURRENCY}, pool ${POOL} ` +
      `(client and bouncer), PostgreSQL ${db.serverVersion}, ${/PgBouncer [\d.]+/.exec(reset.log())?.[0] ?? 'PgBouncer'}`,
  );
  for (const [name, s] of Object.entries(summary)) {
    console.log(
      `  ${name.padEnd(20)} ${fmt(s.rate)} reads/s   p50 ${s.p50.toFixed(2)} ms   p99 ${s.p99.toFixed(2)} ms` +
        `   CPU/read: node ${s.nodeUs.toFixed(1)} µs, pgbouncer ${s.bouncerUs.toFixed(1)} µs, postgres ${s.pgUs.toFixed(1)} µs`,
    );
  }
  const ratio = ratioPrinter(summary, 44);
  ratio('bouncerTenant', 'bouncerBare', '(headline: both through the recommended bouncer)');
  ratio('noResetTenant', 'noResetBare', '(a bouncer without DISCARD ALL, context)');
  ratio('bouncerBare', 'noResetBare', '(what the reset costs a bare read)');
  ratio('bouncerTenant', 'directTenant', '(the tenant read behind the bouncer vs direct with the cache)');
  ratio('directTenantUncached', 'directTenant', '(DB_STATEMENT_CACHE=off alone, direct)');
  ratio('directTenant', 'directBare', '(direct, context)');
} finally {
  for (const p of pools) await p.end().catch(() => {});
  for (const b of bouncers) await b.stop().catch(() => {});
  await close();
}
