/**
 * Online placement moves (issue 13): the write freeze of moving one organization holding BENCH_MOVE_ROWS
 * (100,000) rows from the pooled schema to its own schema and back, then (unless BENCH_MOVE_DATABASE=0)
 * into a tenant database (a second database on the same server, `database:t1`: its freeze is a
 * two-phase commit across the two) and out of it back to pooled (its lock and prepared part in the tenant
 * database, the control database's COMMIT the decision), while BENCH_MOVE_WRITERS writers keep
 * inserting into it and as many into another organization. Printed per direction: the copy's duration,
 * the catch-up rounds before the freeze, the freeze (the switch transaction under the organization's
 * advisory lock, as the engine records it: the rows changed since the last round synchronized and
 * compared, the row counts compared, the routing switch and the audit event) with the rows it carried,
 * and the slowest write of each organization during the move (the moving one's writes wait out the
 * freeze; the other's never take the lock). Goal (issue 13): a freeze for the final delta measured in
 * milliseconds.
 *
 * Not a ratio: there is no baseline for a move. Usage: npm run bench:placement-move
 * (env: BENCH_MOVE_ROWS, BENCH_MOVE_WRITERS, BENCH_MOVE_DATABASE, BENCH_DATABASE_URL)
 */
import pg from 'pg';
import { latestMigration } from '../src/platform/db/migrate.js';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import {
  createPlacementMoveService,
  type MoveTarget,
} from '../src/modules/tenant-placement/tenant-placement.service.js';
import { uuidv7 } from '../src/platform/ids.js';
import { benchDatabase, seedProjects } from './harness.js';
import { dropProvisioned, provisionDatabase } from '../test/support/provision.js';

const ROWS = Number(process.env.BENCH_MOVE_ROWS ?? 100_000);
const WRITERS = Number(process.env.BENCH_MOVE_WRITERS ?? 4);
const INTO_DATABASE = process.env.BENCH_MOVE_DATABASE !== '0';

const { db, close } = await benchDatabase();
try {
  const seeded = await seedProjects(db.adminUrl, 2, ROWS);
  const [moving, other] = [...new Set(seeded.map((r) => r.org))] as [string, string];
  // The tenant database a move goes into last: migrated as `npx saasready migrate` migrates one.
  const t1 = INTO_DATABASE
    ? await provisionDatabase(db.superuserUrl, 'sr_bench_t', { tenantDatabase: true })
    : undefined;
  const tenancy = createTenancy({
    url: db.url,
    poolSize: 2 * WRITERS + 2,
    placementTtlMs: 1000,
    ...(t1
      ? { tenantDatabases: { databases: { t1: { url: t1.url } }, maxConnections: 2 * WRITERS + 2 } }
      : {}),
  });
  const owner = new pg.Pool({ connectionString: db.migrationUrl, max: 3 });
  const t1Owner = t1 ? new pg.Pool({ connectionString: t1.migrationUrl, max: 3 }) : undefined;
  const moves = createPlacementMoveService({
    owner,
    targetOwner: (key) => (key === 't1' ? t1Owner : undefined),
    roles: db.roles,
    schemaVersion: latestMigration(),
    invalidate: (org) => tenancy.router.invalidate(org),
    settleMs: 1000,
    batchSize: 5000,
  });
  let running = true;
  const slowest = new Map<string, number>();
  let written = 0;
  const writer = async (org: string) => {
    while (running) {
      const t0 = performance.now();
      await tenancy.withTenant(org, (t) =>
        t
          .insertInto('projects')
          .values({ organization_id: org, id: uuidv7(), name: `during the move ${uuidv7()}` })
          .execute(),
      );
      written++;
      const ms = performance.now() - t0;
      if (ms > (slowest.get(org) ?? 0)) slowest.set(org, ms);
    }
  };
  const delta = (m: { counts: Record<string, { delta?: number }> | null }) =>
    Object.values(m.counts ?? {}).reduce((n, c) => n + (c.delta ?? 0), 0);
  console.log('goal (issue 13): a write freeze for the final delta, measured in milliseconds');
  console.log(
    `organization with ${ROWS.toLocaleString('en')} projects; ${WRITERS} writers on it and ${WRITERS} on another`,
  );
  const targets: MoveTarget[] = ['schema', 'pooled', ...(t1 ? (['database:t1', 'pooled'] as const) : [])];
  for (const to of targets) {
    slowest.clear();
    running = true;
    const writers = Array.from({ length: WRITERS }, () => [writer(moving), writer(other)]).flat();
    const t0 = performance.now();
    const started = await moves.start(moving, to, 'bench');
    const done = await moves.run(started.id);
    const total = performance.now() - t0;
    running = false;
    await Promise.all(writers);
    const copyMs = done.switchedAt ? done.switchedAt.getTime() - done.createdAt.getTime() : NaN;
    console.log(
      `${done.from === 'database' ? 'out to' : 'to'} ${to.padEnd(11)}: ${done.step}; whole move ${(total / 1000).toFixed(1)} s (copy and settle until the switch ~${(copyMs / 1000).toFixed(1)} s); ` +
        (done.to === 'database' || done.from === 'database'
          ? // A move into or out of a tenant database records neither (its rounds are logged): the freeze.
            `FREEZE ${done.freezeMs ?? '?'} ms (from its control transaction's start to the decision)`
          : `catch-up rounds before the freeze ${done.progress.catch_up?.rounds ?? '?'}; ` +
            `FREEZE ${done.freezeMs ?? '?'} ms (rows changed since the last round: ${delta(done)})`) +
        `; slowest write: moving organization ${(slowest.get(moving) ?? 0).toFixed(0)} ms, ` +
        `other organization ${(slowest.get(other) ?? 0).toFixed(0)} ms; ${written} writes acknowledged so far`,
    );
  }
  await owner.end();
  await t1Owner?.end();
  await tenancy.close();
  if (t1) await dropProvisioned(t1);
} finally {
  await close();
}
