/**
 * The PostgreSQL side of a placement's read, measured on ONE connection so that a shared machine's load
 * barely moves it: `withTenant` in read mode running the application's `findProject`, on a pool of size
 * one, sequentially, and the CPU time the connection's backend process spent (Linux
 * `/proc/<pid>/schedstat`, nanoseconds) divided by the reads. Variants, in interleaved rounds:
 * `pooled` (BENCH_READ_ORGS pooled organizations), `schema` (as many organizations each in its own
 * schema, reads drawn across them; `findProject` names the schema's table, schema-qualifier.ts), `schema1`
 * (one schema organization), `schema-path` (the `schema` organizations with every read under the search
 * path set per read, as before their reads named the schema's tables). The backend must run on this machine
 * (the embedded cluster, or BENCH_DATABASE_URL on localhost).
 *
 * Usage: npx tsx bench/placement-backend.ts  (env: BENCH_READS per round (5000), BENCH_ROUNDS (5),
 * BENCH_READ_ORGS (10), BENCH_ROWS per organization (100), BENCH_DATABASE_URL, BENCH_ONLY=<variant>[,...], BENCH_PAUSE=<seconds>: print the
 * backend's pid (and the database, role and a row of each kind) and wait before the measured rounds, for `perf record -p <pid>`)
 */
import { backendCpuNs } from './backend-session.js';
import { findProject } from '../src/modules/projects/projects.repository.js';
import { createPool } from '../src/platform/db/pool.js';
import { createPlacementRouter } from '../src/platform/tenancy/placement.js';
import { pooledTenantSetter } from '../src/platform/tenancy/pooled-setter.js';
import { schemaTenantSetter } from '../src/platform/tenancy/schema-setter.js';
import { POOLED_SETTERS } from '../src/platform/tenancy/tenant-setters.js';
import { createTenantDatabase } from '../src/platform/tenancy/tenant-database.js';
import { createWithTenant } from '../src/platform/tenancy/with-tenant.js';
import { benchDatabase, median } from './harness.js';
import { seedPooled, seedSchemaPlaced, type SeededRow } from './placement-seed.js';

const READS = Number(process.env.BENCH_READS ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ORGS = Number(process.env.BENCH_READ_ORGS ?? 10);
const ROWS = Number(process.env.BENCH_ROWS ?? 100);
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const READ = { mode: 'read' } as const;

const { db, close } = await benchDatabase();
const pool = createPool({ url: db.url, max: 1 });
try {
  const control = createTenantDatabase('control', pool, pooledTenantSetter);
  const withTenant = createWithTenant(createPlacementRouter({ control }));
  // The same schema organizations with every read under the search path (their reads not qualified): what
  // a schema read cost before schema-qualifier.ts, measured in the same rounds.
  const withPath = createWithTenant(
    createPlacementRouter({
      control,
      setters: { ...POOLED_SETTERS, schema: (org, schema) => schemaTenantSetter(org, schema) },
    }),
  );
  const pooledRows = await seedPooled(db, ORGS, ROWS);
  const schemaRows = await seedSchemaPlaced(db, ORGS, ROWS);
  const one = schemaRows[0]!.org;
  const all: Record<string, SeededRow[]> = {
    pooled: pooledRows,
    schema: schemaRows,
    schema1: schemaRows.filter((r) => r.org === one),
    'schema-path': schemaRows,
  };
  const through = (name: string) => (name === 'schema-path' ? withPath : withTenant);
  const variants = Object.entries(all).filter(([name]) => !ONLY || ONLY.includes(name));
  const pid = (await pool.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  backendCpuNs(pid); // fails here, before any measurement, when the backend is not on this machine

  async function run(name: string, rows: SeededRow[], n: number): Promise<void> {
    const wt = through(name);
    for (let i = 0; i < n; i++) {
      const r = rows[Math.floor(Math.random() * rows.length)]!;
      const row = await wt(r.org, (t) => findProject(t, r.org, r.id), READ);
      if (!row) throw new Error('tenant read missed');
    }
  }
  for (const [name, rows] of variants) await run(name, rows, 1000); // warm-up: statements prepared, plans settled
  if (process.env.BENCH_PAUSE) {
    const p = pooledRows[0]!;
    const s = schemaRows[0]!;
    console.log(
      `backend pid ${pid}, database ${db.database}, runtime role ${db.roles.runtime}, ` +
        `pooled ${p.org} ${p.id}, schema ${s.org} ${s.id}`,
    );
    await new Promise((r) => setTimeout(r, Number(process.env.BENCH_PAUSE) * 1000));
  }
  const perRead: Record<string, number[]> = Object.fromEntries(variants.map(([n]) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, rows] of variants) {
      const before = backendCpuNs(pid);
      await run(name, rows, READS);
      perRead[name]!.push((backendCpuNs(pid) - before) / READS / 1000);
    }
  }
  if (process.env.BENCH_PLANS) {
    // The connection's prepared statements: how often each ran a generic and a custom plan.
    const plans = await pool.query<{ name: string; generic_plans: string; custom_plans: string }>(
      'select name, generic_plans, custom_plans from pg_prepared_statements order by name',
    );
    for (const p of plans.rows)
      console.log(`  ${p.name}: generic ${p.generic_plans}, custom ${p.custom_plans}`);
  }
  const settings = await pool.query<{ v: string }>('select version() as v');
  console.log(
    `${settings.rows[0]!.v.split(' on ')[0]}; ${ROUNDS} rounds x ${READS} reads, one connection, ` +
      `${ORGS} organizations x ${ROWS} projects per placement`,
  );
  for (const [name, xs] of Object.entries(perRead)) {
    const sorted = [...xs].sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(8)} backend CPU per read: median ${median(xs).toFixed(1)} µs` +
        `  (min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)})`,
    );
  }
} finally {
  await pool.end();
  await close();
}
