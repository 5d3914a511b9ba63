/**
 * Placements (issue 13), two figures:
 *
 * 1. Choosing the placement, as `withTenant` does it before checking out a connection, over
 *    BENCH_LOOKUP_ORGS (10,000) organizations with a mix of placement rows (none, pooled, schema,
 *    database; placement-seed.ts): the first request of each (cache miss: a read of `tenant_placements`)
 *    and then warm-cache `router.cached()` calls in random organization order, each call timed on its
 *    own with `process.hrtime.bigint()` minus the timer's own cost. Target: p99 <= 5 µs warm.
 * 2. The read path of `npm run bench` (`withTenant` running the application's `findProject`, a read scope,
 *    same pool size and concurrency) for organizations placed in their own schema and, on a second
 *    database of the same server migrated by the same migrations, in a dedicated database (routed by the
 *    placement router's `databases`), against pooled organizations, in interleaved rounds (medians) of
 *    one run. Targets: schema/pooled >= 0.95; database/pooled printed for context. `schema1` reads one
 *    schema-placed organization only: a connection then keeps the same search path from read to read,
 *    where `schema` alternates between organizations as a real mix does (PostgreSQL re-plans a prepared
 *    statement when the search path it was planned under changes). `schema-pinned` (only when BENCH_ONLY names
 *    it) reads the `schema` organizations with each on a pool of its own of ONE connection: every connection
 *    serves one schema only, an upper bound of what affinity between schemas and connections could win.
 *    `schema-session` (only when BENCH_ONLY names it) reads them each on a pool of its own
 *    (BENCH_SESSION_POOL connections, 1) whose connections carry the schema's search path from their start
 *    (`options`), the transaction setting only the tenant: what a pool per schema placement would cost.
 *
 * Usage: npm run bench:placement  (env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_CONCURRENCY, BENCH_POOL,
 * BENCH_LOOKUP_ORGS, BENCH_LOOKUP_CALLS, BENCH_READ_ORGS, BENCH_ROWS (projects per organization, 100),
 * BENCH_DATABASE_URL, BENCH_SESSION_POOL, BENCH_ONLY=<variant>[,<variant>...]: read variants among pooled,
 * schema, schema1, database, schema-pinned, schema-session
 * (the first four by default); without `database` no second database is made)
 */
import pg from 'pg';
import { findProject } from '../src/modules/projects/projects.repository.js';
import { createPool } from '../src/platform/db/pool.js';
import { createPlacementRouter, type PlacementRouter } from '../src/platform/tenancy/placement.js';
import { tenantSchemaName } from '../src/platform/tenancy/placed-tables.js';
import { schemaTenantSetter } from '../src/platform/tenancy/schema-setter.js';
import { pooledTenantSetter } from '../src/platform/tenancy/pooled-setter.js';
import { createTenantDatabase, type TenantDatabase } from '../src/platform/tenancy/tenant-database.js';
import { createWithTenant } from '../src/platform/tenancy/with-tenant.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../test/support/provision.js';
import { startCpuAccounting } from './cpu-accounting.js';
import { benchDatabase, measure, median, type RunResult } from './harness.js';
import { checkRouting, formatUs, timeHits, timeHitsInBulk, timeMisses } from './placement-lookup.js';
import {
  seedDatabasePlaced,
  seedLookupOrgs,
  seedPooled,
  seedSchemaPlaced,
  type SeededRow,
} from './placement-seed.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const POOL = Number(process.env.BENCH_POOL ?? 8);
const LOOKUP_ORGS = Number(process.env.BENCH_LOOKUP_ORGS ?? 10_000);
const LOOKUP_CALLS = Number(process.env.BENCH_LOOKUP_CALLS ?? 1_000_000);
const READ_ORGS = Number(process.env.BENCH_READ_ORGS ?? 10);
const ROWS = Number(process.env.BENCH_ROWS ?? 100);
const VARIANTS = ['pooled', 'schema', 'schema1', 'database', 'schema-pinned', 'schema-session'] as const;
const DEFAULT_VARIANTS: readonly string[] = ['pooled', 'schema', 'schema1', 'database'];
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const READ = { mode: 'read' } as const;
const DEDICATED = 'bench-dedicated';

type Variant = (typeof VARIANTS)[number];
const variants = VARIANTS.filter((v) => (ONLY ? ONLY.includes(v) : DEFAULT_VARIANTS.includes(v)));
if (variants.length === 0) throw new Error(`BENCH_ONLY names no variant of ${VARIANTS.join(', ')}`);

interface Round extends RunResult {
  readonly nodeCpu: number;
  readonly pgCpu: number;
}

const started = performance.now();
const { db, close } = await benchDatabase();
let dedicated: ProvisionedDatabase | undefined;
const pools: { end(): Promise<void> }[] = [];
try {
  // The second database: same server, same migrations, its own roles (as a real dedicated database).
  if (variants.includes('database')) dedicated = await provisionDatabase(db.superuserUrl, 'sr_bench_ded');
  const controlPool = createPool({ url: db.url, max: POOL });
  pools.push(controlPool);
  const control = createTenantDatabase('control', controlPool, pooledTenantSetter);
  const databases = new Map<string, TenantDatabase>();
  if (dedicated) {
    const pool = createPool({ url: dedicated.url, max: POOL });
    pools.push(pool);
    databases.set(DEDICATED, createTenantDatabase(DEDICATED, pool, pooledTenantSetter));
  }
  console.log(
    `placement: PostgreSQL ${db.serverVersion}, pool ${POOL}` +
      (dedicated ? `, second database ${dedicated.database} on the same server` : ''),
  );

  // 1. Choosing the placement. A router of its own, with a TTL no measured call can outlive: a hit
  // reads the clock and compares either way, so the figure is the same as under the default 60 s.
  const lookupOrgs = await seedLookupOrgs(db.adminUrl, LOOKUP_ORGS, DEDICATED);
  // Without a second database (BENCH_ONLY without `database`), its key still routes: to a handle on the
  // control pool that nothing queries (the lookup only chooses), so the mix stays the same.
  const lookupDatabases = dedicated
    ? databases
    : new Map([[DEDICATED, createTenantDatabase(DEDICATED, controlPool, pooledTenantSetter)]]);
  const lookupRouter = createPlacementRouter({
    control,
    databases: lookupDatabases,
    ttlMs: 3_600_000,
  });
  const ids = lookupOrgs.map((o) => o.id);
  const misses = await timeMisses(lookupRouter, ids);
  checkRouting(lookupRouter, lookupOrgs, DEDICATED);
  timeHits(lookupRouter, ids, Math.min(LOOKUP_CALLS, 200_000)); // warm-up: optimized code, settled heap
  const hits = timeHits(lookupRouter, ids, LOOKUP_CALLS);
  const bulk = timeHitsInBulk(lookupRouter, ids, LOOKUP_CALLS);
  const mix = Object.entries(
    lookupOrgs.reduce<Record<string, number>>((m, o) => ({ ...m, [o.kind]: (m[o.kind] ?? 0) + 1 }), {}),
  )
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  console.log(`placement lookup, ${LOOKUP_ORGS} organizations (placement rows: ${mix}):`);
  console.log(`  warm  router.cached()   ${formatUs(hits)}   (target p99 <= 5 µs)`);
  console.log(
    `        same, loop timed whole: ${(bulk.wallNs / 1000).toFixed(3)} µs wall, ` +
      `${(bulk.cpuNs / 1000).toFixed(3)} µs CPU per call (means)`,
  );
  console.log(`  first request (miss)    ${formatUs(misses)}`);

  // 2. The read path by placement.
  const seeded: Record<Variant, SeededRow[]> = {
    pooled: await seedPooled(db, READ_ORGS, ROWS),
    schema: variants.some((v) => v.startsWith('schema')) ? await seedSchemaPlaced(db, READ_ORGS, ROWS) : [],
    schema1: [],
    'schema-pinned': [],
    'schema-session': [],
    database: dedicated ? await seedDatabasePlaced(db, dedicated, DEDICATED, READ_ORGS, ROWS) : [],
  };
  const oneOrg = seeded.schema[0]?.org;
  seeded.schema1 = seeded.schema.filter((r) => r.org === oneOrg);
  const withTenant = createWithTenant(createPlacementRouter({ control, databases }));
  let withPinned = withTenant;
  if (variants.includes('schema-pinned')) {
    // Each schema organization on a pool of its own of one connection, routed by a router of the bench's.
    seeded['schema-pinned'] = seeded.schema;
    const pinned = new Map<string, TenantDatabase>();
    for (const { org } of seeded.schema) {
      if (pinned.has(org)) continue;
      const pool = createPool({ url: db.url, max: 1 });
      pools.push(pool);
      pinned.set(org, createTenantDatabase(org, pool, schemaTenantSetter(org, tenantSchemaName(org))));
    }
    const router: PlacementRouter = {
      cached: (id) => pinned.get(id),
      resolve: (id) => Promise.resolve(pinned.get(id)!),
      invalidate: () => {},
    };
    withPinned = createWithTenant(router);
  }
  let withSession = withTenant;
  if (variants.includes('schema-session')) {
    seeded['schema-session'] = seeded.schema;
    const own = new Map<string, TenantDatabase>();
    for (const { org } of seeded.schema) {
      if (own.has(org)) continue;
      const schema = tenantSchemaName(org);
      const pool = new pg.Pool({
        connectionString: db.url,
        max: Number(process.env.BENCH_SESSION_POOL ?? 1),
        options: `-c search_path="${schema}",public`,
      });
      pools.push(pool);
      own.set(
        org,
        createTenantDatabase(org, pool, {
          statementNamespace: schema,
          prelude: (id, m) => pooledTenantSetter.prelude(id, m),
        }),
      );
    }
    withSession = createWithTenant({
      cached: (id) => own.get(id),
      resolve: (id) => Promise.resolve(own.get(id)!),
      invalidate: () => {},
    });
  }
  const readOf = (rows: SeededRow[], wt: typeof withTenant) => async () => {
    const r = rows[Math.floor(Math.random() * rows.length)]!;
    const row = await wt(r.org, (t) => findProject(t, r.org, r.id), READ);
    if (!row) throw new Error('tenant read missed');
  };
  const ops = Object.fromEntries(
    variants.map((v) => [
      v,
      readOf(
        seeded[v],
        v === 'schema-pinned' ? withPinned : v === 'schema-session' ? withSession : withTenant,
      ),
    ]),
  );

  async function measureRound(name: string, op: () => Promise<unknown>): Promise<Round> {
    const cpu = startCpuAccounting(undefined);
    const node = process.cpuUsage();
    const run = await measure(name, SECONDS, CONCURRENCY, op);
    const used = process.cpuUsage(node);
    return { ...run, nodeCpu: (used.user + used.system) / 1e6, pgCpu: cpu.stop().postgres };
  }
  for (const op of Object.values(ops)) await measure('warmup', 1, CONCURRENCY, op);
  const results: Record<string, Round[]> = Object.fromEntries(variants.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of Object.entries(ops)) results[name]!.push(await measureRound(name, op));
  }

  const perRead = (rs: Round[], cpu: (r: Round) => number) =>
    (rs.reduce((s, r) => s + cpu(r), 0) / rs.reduce((s, r) => s + r.ops, 0)) * 1e6;
  const rate: Record<string, number> = {};
  console.log(
    `read path by placement: ${ROUNDS} rounds x ${SECONDS}s, concurrency ${CONCURRENCY}, pool ${POOL}, ` +
      `${READ_ORGS} organizations x ${ROWS} projects per placement (schema1: one organization)`,
  );
  for (const [name, rs] of Object.entries(results)) {
    rate[name] = median(rs.map((r) => r.rate));
    console.log(
      `  ${name.padEnd(13)} ${rate[name].toFixed(0).padStart(7)} reads/s   p50 ${median(rs.map((r) => r.p50)).toFixed(2)} ms` +
        `   p99 ${median(rs.map((r) => r.p99)).toFixed(2)} ms   CPU/read: node ${perRead(rs, (r) => r.nodeCpu).toFixed(1)} µs,` +
        ` postgres ${perRead(rs, (r) => r.pgCpu).toFixed(1)} µs`,
    );
  }
  const ratio = (a: string, note: string) => {
    if (rate[a] !== undefined && rate.pooled !== undefined) {
      console.log(`  ratio ${`${a}/pooled`.padEnd(16)} = ${(rate[a] / rate.pooled).toFixed(3)}  ${note}`);
    }
  };
  ratio('schema', '(headline; target >= 0.95)');
  ratio('schema1', '(one organization: the search path never changes on a connection)');
  ratio('schema-pinned', '(each schema organization on a connection of its own)');
  ratio('database', '(dedicated database on the same server, context)');
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
} finally {
  for (const p of pools) await p.end();
  try {
    if (dedicated) await dropProvisioned(dedicated);
  } finally {
    await close();
  }
}
