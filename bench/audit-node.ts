/**
 * Where the audit event's CPU goes in this process (a diagnostic, not a target): the write of bench:audit
 * (one project insert in `withTenant`) alone, with its event (`recordAudit`), and with only the event's
 * draft (the entry built, its personal fields sealed, its canonical JSON written, nothing sent), one
 * transaction at a time on ONE connection, so nothing waits on a busy pool and the process's own CPU per
 * transaction is what the code costs. Variants alternate batch by batch (a busy machine slows them alike);
 * per batch the process's user and system CPU (`process.cpuUsage`) and PostgreSQL's (from /proc); medians
 * of the batches. The event's cost is `writeAndEvent` minus `write`; of it, `writeAndDraft` minus `write` is
 * the draft's, the rest sending the event's INSERT with the COMMIT and reading the answer.
 * Each event is recorded as bench:audit records it: a signed-in user in a request context with an IP and a
 * browser's user agent, both sealed under the user's key (cached, as in the server).
 * Usage: npx tsx bench/audit-node.ts  (env: NODE_BATCH transactions per batch (200), NODE_BATCHES per
 * variant (30), BENCH_ONLY=<variant>,…). Under `node --cpu-prof --import tsx` it prints the measured batches'
 * windows for bench/profile-summary.ts.
 */
import { randomUUID } from 'node:crypto';
import { createTenancy } from '../src/platform/tenancy/tenancy.js';
import { recordAudit } from '../src/platform/audit/record.js';
import { draftEntry } from '../src/platform/audit/draft.js';
import { createAuditSealer } from '../src/platform/audit/sealer.js';
import { auditSealOrganizations } from '../src/platform/tenancy/privileged.js';
import { cachedPersonalKeys, personalDataKeysOf, sealEntry } from '../src/platform/audit/personal-fields.js';
import { runWithContext, type TenantCtx } from '../src/platform/tenancy/context.js';
import type { TenantDb } from '../src/platform/tenancy/tenant-database.js';
import type { AuditEventInput } from '../src/platform/audit/chain.js';
import { benchDatabase, median, onlyVariants, seedOrgAndUser } from './harness.js';
import { startCpuAccounting } from './cpu-accounting.js';
import { sealPersonalFieldsAsTheServer } from './audit-keys.js';

const BATCH = Number(process.env.NODE_BATCH ?? 200);
const BATCHES = Number(process.env.NODE_BATCHES ?? 30);
const USER_AGENT =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

const { db, close } = await benchDatabase();
try {
  const { org, user: userId, admin } = await seedOrgAndUser(db.adminUrl, 'n@example.test');
  await admin.end();
  const tenancy = createTenancy({ url: db.url, poolSize: 1 });
  const keyVault = await sealPersonalFieldsAsTheServer(tenancy, db.keyVaultUrl);
  // As the server's (src/app/compose.ts): the control database's organizations in groups (migration 0070).
  const sealer = createAuditSealer({
    withTenant: tenancy.withTenant,
    databases: [tenancy.control.db],
    sealMany: (orgs, max, budget) => auditSealOrganizations(tenancy.control.pool, orgs, max, budget),
  });
  const principal = { kind: 'user', userId } as const;
  let n = 0;
  const write = (t: TenantDb) =>
    t
      .insertInto('projects')
      .values({ organization_id: org, id: randomUUID(), name: `b${n++}` })
      .execute();
  const eventInput = (): AuditEventInput => ({
    action: 'project.updated',
    target: { type: 'project', id: randomUUID() },
    changes: { before: { name: `n${n}` }, after: { name: `n${n + 1}` } },
  });
  const asUser = <T>(fn: (ctx: TenantCtx) => Promise<T>): Promise<T> => {
    const requestId = randomUUID();
    return runWithContext(
      { requestId, tenantId: org, principal, ip: `203.0.113.${n % 250}`, userAgent: USER_AGENT },
      () => fn({ tenantId: org, actor: principal, requestId }),
    );
  };
  const variants = onlyVariants<() => Promise<unknown>>({
    write: () => asUser(() => tenancy.withTenant(org, (t) => write(t))),
    writeAndDraft: () =>
      asUser((ctx) =>
        tenancy.withTenant(org, async (t) => {
          await write(t);
          // recordAudit's work up to the deferral: keys from the cache, the draft with its seal.
          const event = eventInput();
          const store = personalDataKeysOf(t)!;
          const keys = cachedPersonalKeys(store, ctx.actor, event);
          if (!keys) throw new Error('the user key is not cached');
          draftEntry(ctx.tenantId, ctx.actor, ctx.requestId, event, (e) => sealEntry(e, keys, event));
        }),
      ),
    writeAndEvent: () =>
      asUser((ctx) =>
        tenancy.withTenant(org, async (t) => {
          await write(t);
          await recordAudit(t, ctx, eventInput());
        }),
      ),
  });
  const names = Object.keys(variants);
  // Warm-up (and the user's key created and cached by a first event).
  for (let i = 0; i < 2000; i++) {
    await asUser((ctx) => tenancy.withTenant(org, (t) => recordAudit(t, ctx, eventInput())));
    for (const name of names) await variants[name]!();
  }
  await sealer.flush();
  interface Batch {
    user: number;
    system: number;
    main: number;
    pg: number;
  }
  const batches: Record<string, Batch[]> = Object.fromEntries(names.map((k) => [k, []]));
  /** Under --cpu-prof: the measured batches' intervals, for bench/profile-summary.ts. */
  const profiling = process.execArgv.some((a) => a.startsWith('--cpu-prof'));
  const windows: string[] = [];
  for (let b = 0; b < BATCHES; b++) {
    for (const name of names) {
      const op = variants[name]!;
      const acct = startCpuAccounting(undefined);
      const fromUs = process.hrtime.bigint() / 1000n;
      const before = process.cpuUsage();
      for (let i = 0; i < BATCH; i++) await op();
      const used = process.cpuUsage(before);
      if (profiling) windows.push(`${fromUs}-${process.hrtime.bigint() / 1000n}`);
      const split = acct.stop();
      batches[name]!.push({
        user: used.user / BATCH,
        system: used.system / BATCH,
        main: (split.mainThread * 1e6) / BATCH,
        pg: (split.postgres * 1e6) / BATCH,
      });
    }
    // The pending events sealed between batches, outside the measured time (the key cache's 60 s may
    // also expire during a run: then one batch reads the key again).
    await sealer.flush();
  }
  const med = (name: string, k: keyof Batch) => median(batches[name]!.map((x) => x[k]));
  console.log(
    `audit-node: ${BATCHES} batches x ${BATCH} transactions per variant, one connection, PostgreSQL ${db.serverVersion}; CPU per transaction, µs (medians of batches)`,
  );
  console.log(
    `  ${'variant'.padEnd(14)} ${'user'.padStart(7)} ${'system'.padStart(7)} ${'main thread'.padStart(12)} ${'PostgreSQL'.padStart(11)}`,
  );
  for (const name of names) {
    console.log(
      `  ${name.padEnd(14)} ${med(name, 'user').toFixed(1).padStart(7)} ${med(name, 'system').toFixed(1).padStart(7)} ${med(name, 'main').toFixed(1).padStart(12)} ${med(name, 'pg').toFixed(1).padStart(11)}`,
    );
  }
  if (profiling) console.log(`  profile windows (measured batches): ${windows.join(',')}`);
  // Differences batch by batch (each pair ran back to back), medians.
  const diff = (a: string, b: string, k: keyof Batch) =>
    median(batches[a]!.map((x, i) => x[k] - batches[b]![i]![k]));
  for (const [a, label] of [
    ['writeAndEvent', 'the event'],
    ['writeAndDraft', 'its draft'],
  ] as const) {
    if (!batches[a] || !batches.write) continue;
    console.log(
      `  ${label.padEnd(14)} ${diff(a, 'write', 'user').toFixed(1).padStart(7)} ${diff(a, 'write', 'system').toFixed(1).padStart(7)} ${diff(a, 'write', 'main').toFixed(1).padStart(12)} ${diff(a, 'write', 'pg').toFixed(1).padStart(11)}`,
    );
  }
  await sealer.stop();
  await tenancy.close();
  await keyVault.close();
} finally {
  await close();
}
