/**
 * Audited write throughput: a tenant write transaction that inserts one row (a project) AND records its
 * audit event (`recordAudit`), against the same transaction without the event (the issue's ratio), and
 * a transaction that only records an event, against the write. 16 concurrent writers in ONE organization
 * and 16 spread over 100 organizations. The in-process sealer runs as in the server (about 5 s after
 * commit, so a 2-second run is sealed by the drain); after each audited run the sealer is drained and that time is added to the run's, so the
 * rates include the cost of chaining every event (the CPU figures include it too). Runs are interleaved
 * (each round runs every case once), medians of the rounds reported. Afterwards every chain is sealed and
 * verified (gapless, every hash recomputed, nothing left pending).
 * `writeAndFloorRow` is the floor of any design that makes the event durable in the writer's transaction: the
 * write and, sent with its COMMIT as `recordAudit` sends the event, one row of the event's size and columns in
 * a plain table (no index, trigger, row level security or key; no draft, no sealing of personal fields, no
 * chain). Its ratio to `write` is the most an audited write could reach here.
 * Each event is recorded as the server records a user's action: a signed-in user (one of 5 per organization)
 * acting inside a request context with a client IP and a browser's user agent, both sealed under the
 * user's personal key (personal-fields.ts, the composition's key store over a local KMS and the key vault; keys cached 60 s
 * as in the server, so a run also reads and unwraps them again now and then).
 * Usage: npm run bench:audit  (env: BENCH_SECONDS, BENCH_ROUNDS, BENCH_POOL, BENCH_DATABASE_URL, BENCH_ONLY)
 * Under `node --cpu-prof --import tsx` it prints the measured rounds' windows for bench/profile-summary.ts.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { recordAudit } from '../src/platform/audit/record.js';
import { createAuditSealer } from '../src/platform/audit/sealer.js';
import { auditSealOrganizations } from '../src/platform/tenancy/privileged.js';
import { runWithContext, type TenantCtx } from '../src/platform/tenancy/context.js';
import { scopeStorage, type TenantDb } from '../src/platform/tenancy/tenant-database.js';
import { verifyOrganizationChain } from '../src/modules/audit/audit-verification.js';
import { benchDatabase, measure, median, seedProjects } from './harness.js';
import { startCpuAccounting } from './cpu-accounting.js';
import { sealPersonalFieldsAsTheServer } from './audit-keys.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const POOL = Number(process.env.BENCH_POOL ?? 8);
const WRITERS = 16;
/** Only these cases (e.g. `writeAndEvent 100Orgs`, comma-separated): for profiling. */
const ONLY = process.env.BENCH_ONLY?.split(',').map((x) => x.trim());

const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** `perOrg` users for each organization (no membership needed to record), their ids by organization. */
async function seedUsers(adminUrl: string, orgs: string[], perOrg: number): Promise<Map<string, string[]>> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const res = await admin.query<{ org: string; id: string }>(
      `with u as (
         insert into users (id, email, email_normalized)
         select gen_random_uuid(), 'bench-' || o.i || '-' || g || '@example.test',
                'bench-' || o.i || '-' || g || '@example.test'
           from unnest($1::uuid[]) with ordinality o(org, i), generate_series(1, $2::int) g
         returning id, email
       )
       select o.org, u.id from u
         join unnest($1::uuid[]) with ordinality o(org, i) on u.email like 'bench-' || o.i || '-%'`,
      [orgs, perOrg],
    );
    const out = new Map<string, string[]>();
    for (const r of res.rows) out.set(r.org, [...(out.get(r.org) ?? []), r.id]);
    return out;
  } finally {
    await admin.end();
  }
}

const FLOOR_COLUMNS = `organization_id uuid, id uuid, occurred_at timestamptz, prefix text, suffix text,
  actor_type text, actor_id text, action text, target_type text, target_id text, ip text, user_agent text,
  request_id text, changes jsonb, metadata jsonb`;
const INSERT_FLOOR = `insert into bench_event_floor (organization_id, id, occurred_at, prefix, suffix,
  actor_type, actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb)`;
// Of the sizes `recordAudit` writes for this bench's event (sealed IP and user agent, `changes`, the
// canonical JSON's two pieces around the seq).
const FLOOR_IP = 'pd1.' + 'A'.repeat(72);
const FLOOR_UA = 'pd1.' + 'B'.repeat(200);
const FLOOR_CHANGES = '{"after":{"name":"n2"},"before":{"name":"n1"}}';
const FLOOR_PREFIX =
  '{"action":"project.updated","actor":{"id":"' +
  randomUUID() +
  '","type":"user"},"changes":' +
  FLOOR_CHANGES +
  ',"id":"' +
  randomUUID() +
  '","ip":"' +
  FLOOR_IP +
  '","metadata":null,"occurred_at":"2026-12-07T05:00:00.000Z","organization_id":"' +
  randomUUID() +
  '","request_id":"' +
  randomUUID() +
  '","seq":';
const FLOOR_SUFFIX = `,"target":{"id":"${randomUUID()}","type":"project"},"user_agent":"${FLOOR_UA}","v":1}`;

/** The floor's table: a plain heap (no index, trigger, policy or key), any role may insert. */
async function createFloorTable(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      `create table bench_event_floor (${FLOOR_COLUMNS}); grant insert on bench_event_floor to public`,
    );
  } finally {
    await admin.end();
  }
}

interface Round {
  /** Operations per second, the seal drain included. */
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** CPU (this process + PostgreSQL) per operation, microseconds. */
  readonly cpuUs: number;
  /** Of which PostgreSQL's. */
  readonly pgUs: number;
  /** Of which the drain of the sealer after the run (the chaining; the sealer's delay outlasts a run). */
  readonly sealUs: number;
}

const { db, close } = await benchDatabase();
try {
  const seeded = await seedProjects(db.adminUrl, 100, 1);
  const orgs = [...new Set(seeded.map((r) => r.org))];
  const one = orgs[0]!;
  const usersOf = await seedUsers(db.adminUrl, orgs, 5);
  await createFloorTable(db.adminUrl);
  const tenancy = createTenancy({ url: db.url, poolSize: POOL });
  const keyVault = await sealPersonalFieldsAsTheServer(tenancy, db.keyVaultUrl);
  // As the server's (src/app/compose.ts): the control database's organizations in groups (migration 0070).
  const sealer = createAuditSealer({
    withTenant: tenancy.withTenant,
    databases: [tenancy.control.db],
    sealMany: (orgs, max, budget) => auditSealOrganizations(tenancy.control.pool, orgs, max, budget),
  });
  const anyOrg = () => orgs[Math.floor(Math.random() * orgs.length)]!;
  let n = 0;
  const write = (t: TenantDb, org: string) =>
    t
      .insertInto('projects')
      .values({ organization_id: org, id: randomUUID(), name: `b${n++}` })
      .execute();
  const event = (t: TenantDb, ctx: TenantCtx) =>
    recordAudit(t, ctx, {
      action: 'project.updated',
      target: { type: 'project', id: randomUUID() },
      changes: { before: { name: `n${n}` }, after: { name: `n${n + 1}` } },
    });
  /** The floor's row: the event's columns, of its sizes (IP and user agent as sealed), sent with the COMMIT. */
  const floorRow = (org: string) =>
    scopeStorage
      .getStore()!
      .deferUntilCommit(INSERT_FLOOR, [
        org,
        randomUUID(),
        new Date().toISOString(),
        FLOOR_PREFIX,
        FLOOR_SUFFIX,
        'user',
        randomUUID(),
        'project.updated',
        'project',
        randomUUID(),
        FLOOR_IP,
        FLOOR_UA,
        randomUUID(),
        FLOOR_CHANGES,
        null,
      ]);
  /** Runs `fn` as a request of a random user of `org` would (request context with IP and UA). */
  const asUser = <T>(org: string, fn: (ctx: TenantCtx) => Promise<T>): Promise<T> => {
    const users = usersOf.get(org)!;
    const userId = users[Math.floor(Math.random() * users.length)]!;
    const requestId = randomUUID();
    const principal = { kind: 'user', userId } as const;
    return runWithContext(
      { requestId, tenantId: org, principal, ip: `203.0.113.${n % 250}`, userAgent: USER_AGENT },
      () => fn({ tenantId: org, actor: principal, requestId }),
    );
  };
  const cases = (org: () => string): Record<string, () => Promise<unknown>> => ({
    write: () => {
      const o = org();
      return asUser(o, () => tenancy.withTenant(o, (t) => write(t, o)));
    },
    writeAndEvent: () => {
      const o = org();
      return asUser(o, (ctx) =>
        tenancy.withTenant(o, async (t) => {
          await write(t, o);
          await event(t, ctx);
        }),
      );
    },
    writeAndFloorRow: () => {
      const o = org();
      return asUser(o, () =>
        tenancy.withTenant(o, async (t) => {
          await write(t, o);
          floorRow(o);
        }),
      );
    },
    eventOnly: () => {
      const o = org();
      return asUser(o, (ctx) => tenancy.withTenant(o, (t) => event(t, ctx)));
    },
  });
  const groups = { oneOrg: cases(() => one), '100Orgs': cases(anyOrg) };
  const ops = Object.entries(groups)
    .flatMap(([g, cs]) => Object.entries(cs).map(([c, op]) => [`${c} ${g}`, op] as const))
    .filter(([name]) => !ONLY || ONLY.includes(name));
  if (ops.length === 0) throw new Error('BENCH_ONLY names no case');

  /** Under --cpu-prof: the measured intervals (seal drains left out), for bench/profile-summary.ts. */
  const profiling = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
  const windows: string[] = [];

  async function run(name: string, seconds: number, op: () => Promise<unknown>): Promise<Round> {
    const cpu = startCpuAccounting(undefined);
    const fromUs = process.hrtime.bigint() / 1000n;
    const r = await measure(name, seconds, WRITERS, op);
    if (profiling && seconds === SECONDS) windows.push(`${fromUs}-${process.hrtime.bigint() / 1000n}`);
    const sealing = startCpuAccounting(undefined);
    const t0 = performance.now();
    await sealer.flush(); // the chaining of this run's events is part of its cost
    const drain = (performance.now() - t0) / 1000;
    const used = cpu.stop();
    const sealed = sealing.stop();
    return {
      rate: r.ops / (r.seconds + drain),
      p50: r.p50,
      p99: r.p99,
      cpuUs: ((used.mainThread + used.otherThreads + used.postgres) / r.ops) * 1e6,
      pgUs: (used.postgres / r.ops) * 1e6,
      sealUs: ((sealed.mainThread + sealed.otherThreads + sealed.postgres) / r.ops) * 1e6,
    };
  }

  for (const [name, op] of ops) await run(name, 0.5, op);
  const rounds: Record<string, Round[]> = Object.fromEntries(ops.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, op] of ops) rounds[name]!.push(await run(name, SECONDS, op));
  }
  const s: Record<string, Round> = Object.fromEntries(
    Object.entries(rounds).map(([name, rs]) => [
      name,
      {
        rate: median(rs.map((r) => r.rate)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        cpuUs: median(rs.map((r) => r.cpuUs)),
        pgUs: median(rs.map((r) => r.pgUs)),
        sealUs: median(rs.map((r) => r.sealUs)),
      },
    ]),
  );
  console.log(
    `audit-append: ${ROUNDS} rounds x ${SECONDS}s, ${WRITERS} concurrent writers, pool ${POOL}, PostgreSQL ${db.serverVersion}`,
  );
  for (const [name, r] of Object.entries(s)) {
    console.log(
      `  ${name.padEnd(24)} ${r.rate.toFixed(0).padStart(7)} tx/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   cpu ${r.cpuUs.toFixed(0)} µs/tx (PostgreSQL ${r.pgUs.toFixed(0)}, sealing ${r.sealUs.toFixed(0)})`,
    );
  }
  if (profiling) console.log(`  profile windows (measured rounds): ${windows.join(',')}`);
  for (const g of Object.keys(groups)) {
    const base = s[`write ${g}`];
    for (const c of ['writeAndEvent', 'writeAndFloorRow', 'eventOnly']) {
      const x = s[`${c} ${g}`];
      if (!base || !x) continue;
      console.log(
        `  ratio ${`${c}/write ${g}`.padEnd(31)} = ${(x.rate / base.rate).toFixed(3)} (CPU per tx ${(x.cpuUs / base.cpuUs).toFixed(2)}x)`,
      );
    }
  }

  await sealer.stop();
  const t0 = performance.now();
  let entries = 0;
  for (const org of orgs) {
    const v = await verifyOrganizationChain(
      tenancy.withTenant,
      { knows: () => true, verify: () => true },
      org,
    );
    if (!v.valid) throw new Error(`chain of ${org} broken at ${v.firstBrokenSeq}: ${v.reason}`);
    if (v.unsealed.count > 0) throw new Error(`chain of ${org}: ${v.unsealed.count} events left unsealed`);
    entries += v.entriesChecked;
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(
    `  verified ${orgs.length} chains, ${entries} entries, all gapless and intact, none pending (${(entries / secs).toFixed(0)} entries/s)`,
  );
  await tenancy.close();
  await keyVault.close();
} finally {
  await close();
}
