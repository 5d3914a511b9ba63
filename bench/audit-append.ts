/**
 * Audit append throughput: `recordAudit` (hash chain, head-row lock) inside a tenant write transaction,
 * with 16 concurrent writers in ONE organization (they queue on its chain head) and 16 writers spread
 * over 100 organizations, against a baseline measured in the same run: the same write transaction
 * inserting one ordinary row (a project) instead. Runs are interleaved, medians of the rounds reported.
 * Afterwards every chain is verified (gapless, every hash recomputed).
 * Usage: npm run bench:audit  (env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_POOL, BENCH_DATABASE_URL)
 */
import { randomUUID } from 'node:crypto';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { recordAudit } from '../src/platform/audit/record.js';
import { systemCtx } from '../src/platform/tenancy/context.js';
import { verifyOrganizationChain } from '../src/modules/audit/audit-verification.js';
import { benchDatabase, measure, median, seedProjects, type RunResult } from './harness.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const POOL = Number(process.env.BENCH_POOL ?? 8);
const WRITERS = 16;

const { db, close } = await benchDatabase();
try {
  const seeded = await seedProjects(db.adminUrl, 100, 1);
  const orgs = [...new Set(seeded.map((r) => r.org))];
  const one = orgs[0]!;
  const tenancy = createTenancy({ url: db.url, poolSize: POOL });
  const anyOrg = () => orgs[Math.floor(Math.random() * orgs.length)]!;
  const event = (i: number) => ({
    action: 'project.updated',
    target: { type: 'project', id: randomUUID() },
    changes: { before: { name: `n${i}` }, after: { name: `n${i + 1}` } },
  });
  let n = 0;

  const ops: Record<string, () => Promise<unknown>> = {
    plainInsertOneOrg: () =>
      tenancy.withTenant(one, (t) =>
        t
          .insertInto('projects')
          .values({ organization_id: one, id: randomUUID(), name: `b${n++}` })
          .execute(),
      ),
    auditOneOrg: () => tenancy.withTenant(one, (t) => recordAudit(t, systemCtx(one, 'bench'), event(n++))),
    plainInsert100Orgs: () => {
      const org = anyOrg();
      return tenancy.withTenant(org, (t) =>
        t
          .insertInto('projects')
          .values({ organization_id: org, id: randomUUID(), name: `b${n++}` })
          .execute(),
      );
    },
    audit100Orgs: () => {
      const org = anyOrg();
      return tenancy.withTenant(org, (t) => recordAudit(t, systemCtx(org, 'bench'), event(n++)));
    },
  };

  for (const op of Object.values(ops)) await measure('warmup', 1, WRITERS, op);
  const results: Record<string, RunResult[]> = Object.fromEntries(Object.keys(ops).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of Object.entries(ops))
      results[name]!.push(await measure(name, SECONDS, WRITERS, op));
  }
  const s = Object.fromEntries(
    Object.entries(results).map(([name, rs]) => [
      name,
      {
        rate: median(rs.map((r) => r.rate)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
      },
    ]),
  );
  console.log(
    `audit-append: ${ROUNDS} rounds x ${SECONDS}s, ${WRITERS} concurrent writers, pool ${POOL}, PostgreSQL ${db.serverVersion}`,
  );
  for (const [name, r] of Object.entries(s)) {
    console.log(
      `  ${name.padEnd(19)} ${r.rate.toFixed(0).padStart(7)} tx/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms`,
    );
  }
  console.log(
    `  ratio auditOneOrg/plainInsertOneOrg   = ${(s.auditOneOrg!.rate / s.plainInsertOneOrg!.rate).toFixed(3)}`,
  );
  console.log(
    `  ratio audit100Orgs/plainInsert100Orgs = ${(s.audit100Orgs!.rate / s.plainInsert100Orgs!.rate).toFixed(3)}`,
  );

  const t0 = performance.now();
  let entries = 0;
  for (const org of orgs) {
    const v = await verifyOrganizationChain(
      tenancy.withTenant,
      { knows: () => true, verify: () => true },
      org,
    );
    if (!v.valid) throw new Error(`chain of ${org} broken at ${v.firstBrokenSeq}: ${v.reason}`);
    entries += v.entriesChecked;
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `  verified ${orgs.length} chains, ${entries} entries, all gapless and intact (${(entries / secs).toFixed(0)} entries/s)`,
  );
  await tenancy.close();
} finally {
  await close();
}
