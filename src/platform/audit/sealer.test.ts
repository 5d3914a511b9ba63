import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { systemCtx } from '../tenancy/context.js';
import { auditOrganizationsPending } from '../tenancy/privileged.js';
import { createAuditVerifier } from './signing.js';
import { verifyOrganizationChain } from '../../modules/audit/audit-verification.js';
import { recordAudit } from './record.js';
import { SEAL_BATCH, sealBatch, sealPending, unsealedEvents } from './seal.js';
import type { WithTenant } from '../tenancy/with-tenant.js';
import { createAuditSealer } from './sealer.js';
import { testPool } from '../../../test/support/pools.js';

/**
 * A database of its own: one test lifts forced row security on audit_pending (DDL, an ACCESS EXCLUSIVE lock
 * every audited write of the suite's other files would queue behind), and the tests count the pending
 * events they left, which the seal sweep of another file's app (every 5 s over its whole database) would
 * seal under them.
 */
describe('audit sealing (real PostgreSQL)', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let runtime: pg.Client;
  const verifier = createAuditVerifier([]);

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_sealer');
    tenancy = createTenancy({ url: db.url, poolSize: 12, setter: defaultTestSetter() });
    runtime = await connect(db.url);
  });
  afterAll(async () => {
    await runtime?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  const record = (org: string, i: number) =>
    tenancy.withTenant(org, (t) =>
      recordAudit(t, systemCtx(org, 'test'), {
        action: 'project.updated',
        target: { type: 'project', id: `p${i}` },
      }),
    );
  const sealedSeqs = (org: string) =>
    tenancy.withTenant(
      org,
      async (t) =>
        (
          await t
            .selectFrom('audit_events')
            .select('seq')
            .where('organization_id', '=', org)
            .orderBy('seq')
            .execute()
        ).map((r) => Number(r.seq)),
      { mode: 'read' },
    );

  it('100 concurrent writers (with sealers running meanwhile) give a gapless chain that verifies', async () => {
    const org = await createTestOrg(tenancy, 'seal-conc');
    const sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db],
      delayMs: 5,
    });
    onTestFinished(() => sealer.stop());
    await Promise.all([
      ...Array.from({ length: 100 }, (_, i) =>
        tenancy.withTenant(org, async (t) => {
          await t
            .insertInto('projects')
            .values({ organization_id: org, id: crypto.randomUUID(), name: `p${i}` })
            .execute();
          await recordAudit(t, systemCtx(org, 'test'), {
            action: 'project.created',
            target: { type: 'project', id: `p${i}` },
          });
        }),
      ),
      // Competing explicit seals, small batches: the head lock keeps them from interleaving.
      ...Array.from({ length: 5 }, () => sealBatch(tenancy.withTenant, org, { wait: true, max: 7 })),
    ]);
    await sealer.flush();
    await sealPending(tenancy.withTenant, org);
    expect(await sealedSeqs(org)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const v = await verifyOrganizationChain(tenancy.withTenant, verifier, org);
    expect(v).toMatchObject({
      valid: true,
      entriesChecked: 100,
      lastSeq: 100,
      unsealed: { count: 0, oldestOccurredAt: null },
    });
  });

  it('the in-process sealer seals about delayMs after the commit, without being asked', async () => {
    const org = await createTestOrg(tenancy, 'seal-bg');
    const sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db],
      delayMs: 20,
    });
    onTestFinished(() => sealer.stop());
    await record(org, 1);
    await record(org, 2);
    await expect.poll(() => sealedSeqs(org), { timeout: 5000, interval: 50 }).toEqual([1, 2]);
  });

  it('a rolled-back write leaves no pending event and no gap', async () => {
    const org = await createTestOrg(tenancy, 'seal-rb');
    await record(org, 1);
    await expect(
      tenancy.withTenant(org, async (t) => {
        await recordAudit(t, systemCtx(org, 'test'), {
          action: 'project.created',
          target: { type: 'project' },
        });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await unsealedEvents(tenancy.withTenant, org)).toMatchObject({ count: 1 });
    await record(org, 2);
    await sealPending(tenancy.withTenant, org);
    expect(await sealedSeqs(org)).toEqual([1, 2]);
  });

  it('events a stopped process left pending are sealed by the sweep (worker role)', async () => {
    const org = await createTestOrg(tenancy, 'seal-crash');
    // No sealer listens: as if the process had stopped right after these commits.
    await record(org, 1);
    await record(org, 2);
    const pending = await unsealedEvents(tenancy.withTenant, org);
    expect(pending.count).toBe(2);
    expect(pending.oldestOccurredAt).not.toBeNull();
    const workerPool = testPool({ connectionString: db.workerUrl, max: 1 });
    onTestFinished(() => workerPool.end());
    const sealer = createAuditSealer({ withTenant: tenancy.withTenant, databases: [], delayMs: 5 });
    onTestFinished(() => sealer.stop());
    sealer.startSweep((after, limit) => auditOrganizationsPending(workerPool, after, limit), 100);
    await expect.poll(() => sealedSeqs(org), { timeout: 5000, interval: 50 }).toEqual([1, 2]);
    expect(await auditOrganizationsPending(workerPool, null, 1000)).not.toContain(org);
  });

  it('sealing refuses an organization other than the scope tenant; the sweep list is the worker role’s', async () => {
    const org = await createTestOrg(tenancy, 'seal-own');
    const other = await createTestOrg(tenancy, 'seal-other');
    await record(org, 1);
    await expect(
      tenancy.withTenant(other, (t) => sql`select app_audit_seal(${org}, 10, true)`.execute(t)),
    ).rejects.toThrow(/outside the tenant scope/);
    await expect(runtime.query('select app_audit_seal($1, 10, true)', [org])).rejects.toThrow(
      /outside the tenant scope/,
    );
    await expect(
      runtime.query('select * from worker_api.app_priv_audit_orgs_pending(null, 10)'),
    ).rejects.toThrow(/permission denied/);
  });

  it('the runtime role cannot UPDATE, DELETE or TRUNCATE pending events; the trigger stops the owner too', async () => {
    const org = await createTestOrg(tenancy, 'seal-rt');
    await record(org, 1);
    for (const stmt of [
      `update audit_pending set action = 'x.y' where organization_id = $1`,
      `delete from audit_pending where organization_id = $1`,
    ]) {
      await runtime.query('begin');
      await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await expect(runtime.query(stmt, [org]), stmt).rejects.toThrow(/permission denied/);
      await runtime.query('rollback');
    }
    await expect(runtime.query('truncate audit_pending')).rejects.toThrow(/permission denied/);
    const owner = await connect(db.migrationUrl);
    onTestFinished(() => owner.end());
    await owner.query('begin');
    await owner.query('alter table audit_pending no force row level security');
    await owner.query('savepoint s');
    await expect(owner.query(`delete from audit_pending where organization_id = $1`, [org])).rejects.toThrow(
      /leave only by sealing/,
    );
    await owner.query('rollback to savepoint s');
    await expect(
      owner.query(`update audit_pending set action = 'x.y' where organization_id = $1`, [org]),
    ).rejects.toThrow(/leave only by sealing/);
    await owner.query('rollback');
    await expect(owner.query('truncate audit_pending')).rejects.toThrow(/leave only by sealing/);
    // Still there, and sealed normally.
    expect(await sealPending(tenancy.withTenant, org)).toBe(1);
  });

  /** Inserts a pending event as the runtime role could (bypassing the application's draft). */
  const insertPendingAsRuntime = async (org: string, columns: Record<string, unknown>) => {
    const row = {
      prefix: '{',
      suffix: '}',
      actor_type: 'system',
      action: 'test.seeded',
      target_type: 't',
      ...columns,
    };
    const names = Object.keys(row);
    await runtime.query('begin');
    try {
      await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await runtime.query(
        `insert into audit_pending (organization_id, id, occurred_at, ${names.join(', ')})
         values ($1, gen_random_uuid(), now(), ${names.map((_, i) => `$${i + 2}`).join(', ')})`,
        [org, ...Object.values(row)],
      );
      await runtime.query('commit');
    } catch (err) {
      await runtime.query('rollback');
      throw err;
    }
  };

  it('a pending row the chain could not take is refused at insert, so it cannot stop sealing', async () => {
    const org = await createTestOrg(tenancy, 'seal-poison');
    const big = 'x'.repeat(10_000);
    for (const columns of [
      { target_id: big },
      { target_type: big },
      { actor_id: big },
      { action: `a.${'b'.repeat(300)}` },
      { request_id: big },
      { ip: big },
      { user_agent: big },
      { prefix: big.repeat(27) },
      { metadata: JSON.stringify({ big: big.repeat(110) }) },
    ]) {
      const err = await insertPendingAsRuntime(org, columns).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
      const column = Object.keys(columns)[0]!;
      expect(err?.code, column).toBe('23514'); // check_violation, as the CHECK constraints answered
      expect(err?.message, column).toMatch(/audit_pending row refused by the check of/);
    }
    // At the caps, a row is still one the chain takes.
    await insertPendingAsRuntime(org, { target_type: 'x'.repeat(512), target_id: 'y'.repeat(1024) });
    await record(org, 1);
    expect(await sealPending(tenancy.withTenant, org)).toBe(2);
    expect(await sealedSeqs(org)).toEqual([1, 2]);
    // The application refuses an oversize event itself, with a clear error.
    await expect(
      tenancy.withTenant(org, (t) =>
        recordAudit(t, systemCtx(org, 'test'), {
          action: 'project.updated',
          target: { type: 'project' },
          metadata: { notes: big.repeat(30) },
        }),
      ),
    ).rejects.toThrow(/too large/);
  });

  it('the runtime role cannot choose pending_id: the sequence assigns it whatever the insert says', async () => {
    const org = await createTestOrg(tenancy, 'seal-id');
    await insertPendingAsRuntime(org, { pending_id: '-9223372036854775808' });
    await runtime.query('begin');
    await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
    await runtime.query(
      `insert into audit_pending (organization_id, pending_id, id, occurred_at, prefix, suffix, actor_type,
         action, target_type) overriding system value
       values ($1, -9223372036854775808, gen_random_uuid(), now(), '{', '}', 'system', 'test.seeded', 't')`,
      [org],
    );
    const ids = await runtime.query<{ pending_id: string }>(
      'select pending_id from audit_pending where organization_id = $1 order by pending_id',
      [org],
    );
    await runtime.query('commit');
    expect(ids.rows).toHaveLength(2);
    for (const r of ids.rows) expect(BigInt(r.pending_id)).toBeGreaterThan(0n);
    expect(ids.rows[0]!.pending_id).not.toBe(ids.rows[1]!.pending_id);
    expect(await sealPending(tenancy.withTenant, org)).toBe(2);
  });

  it('the sealer takes due organizations round-robin, one batch each per turn', async () => {
    const left = new Map([
      ['busy', 3 * SEAL_BATCH],
      ['quiet', 1],
      ['other', SEAL_BATCH + 1],
    ]);
    const calls: string[] = [];
    // Only the order of the batches matters here: a stand-in for the database's app_audit_seal.
    const withTenant = (async (org: string) => {
      calls.push(org);
      const n = Math.min(left.get(org) ?? 0, SEAL_BATCH);
      left.set(org, (left.get(org) ?? 0) - n);
      return n;
    }) as unknown as WithTenant;
    const sealer = createAuditSealer({ withTenant, databases: [], delayMs: 5 });
    onTestFinished(() => sealer.stop());
    sealer.startSweep(async () => ['busy', 'quiet', 'other'], 60_000);
    await expect.poll(() => calls.length).toBe(7);
    expect(calls).toEqual(['busy', 'quiet', 'other', 'busy', 'other', 'busy', 'busy']);
  });

  it('the sealer seals up to `concurrency` organizations at once, each batch in the turn order', async () => {
    const orgs = Array.from({ length: 10 }, (_, i) => `org${i}`);
    const started: string[] = [];
    let inFlight = 0;
    let most = 0;
    // A stand-in for app_audit_seal that takes a while, so batches overlap.
    const withTenant = (async (org: string) => {
      started.push(org);
      most = Math.max(most, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      return 1;
    }) as unknown as WithTenant;
    const sealer = createAuditSealer({ withTenant, databases: [], delayMs: 5, concurrency: 3 });
    onTestFinished(() => sealer.stop());
    sealer.startSweep(async () => orgs, 60_000);
    await expect.poll(() => started.length).toBe(10);
    await sealer.flush();
    expect(started).toEqual(orgs);
    expect(most).toBe(3);
  });

  it('with sealMany, a turn goes in groups (round-robin kept); -2 and a failed group take the per-organization path, -3 the next turn', async () => {
    const left = new Map([
      ['a', 2 * SEAL_BATCH],
      ['b', 1],
      ['c', 1],
      ['elsewhere', 1],
      ['d', 1],
    ]);
    const take = (org: string) => {
      const n = Math.min(left.get(org) ?? 0, SEAL_BATCH);
      left.set(org, (left.get(org) ?? 0) - n);
      return n;
    };
    const groups: string[][] = [];
    const single: string[] = [];
    let failNext = false;
    let cDeferred = false;
    // Stand-ins for app_audit_seal_many and app_audit_seal.
    const sealMany = async (orgs: readonly string[]) => {
      groups.push([...orgs]);
      if (orgs.includes('d') && !failNext) {
        failNext = true;
        throw new Error('the group failed');
      }
      // `c` not reached by the first call (its budget spent): sealed in the next turn.
      if (orgs.includes('c') && !cDeferred) {
        cDeferred = true;
        return new Map(orgs.map((o) => [o, o === 'c' ? -3 : take(o)] as const));
      }
      return new Map(orgs.map((o) => [o, o === 'elsewhere' ? -2 : take(o)] as const));
    };
    const withTenant = (async (org: string) => {
      single.push(org);
      return take(org);
    }) as unknown as WithTenant;
    const sealer = createAuditSealer({ withTenant, databases: [], delayMs: 5, sealMany, perCall: 3 });
    onTestFinished(() => sealer.stop());
    sealer.startSweep(async () => ['a', 'b', 'c', 'elsewhere', 'd'], 60_000);
    await expect.poll(() => [...left.values()].every((n) => n === 0)).toBe(true);
    await sealer.flush();
    // 5 organizations in groups of at most 3, of even sizes; then `a` (full) and `c` (not reached), then
    // `a` alone while its batches come back full (the second one too: a third turn finds none left).
    expect(groups).toEqual([['a', 'b', 'c'], ['elsewhere', 'd'], ['a', 'c'], ['a']]);
    expect(single).toEqual(['elsewhere', 'd']);
  });

  it('an audit event needs a write scope', async () => {
    const org = await createTestOrg(tenancy, 'seal-read');
    await expect(
      tenancy.withTenant(
        org,
        (t) =>
          recordAudit(t, systemCtx(org, 'test'), { action: 'project.created', target: { type: 'project' } }),
        { mode: 'read' },
      ),
    ).rejects.toThrow(/write scope/);
  });
});
