import { tamperAuditAsOwner } from '../../../test/support/audit.js';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createTenancy } from '../../platform/tenancy/tenancy.js';
import { testJwtKey } from '../tokens/tokens.test-support.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { systemCtx, type TenantCtx } from '../../platform/tenancy/context.js';
import { recordAudit } from '../../platform/audit/record.js';
import { createAuditSigner, createAuditVerifier } from '../../platform/audit/signing.js';
import { entryHash } from '../../platform/audit/chain.js';
import { storedEntry } from '../../platform/audit/stored.js';
import { auditChainsToCheckpoint } from '../../platform/tenancy/privileged.js';
import { sealAudit } from '../../../test/support/audit.js';
import { createAuditService, type AuditService } from './audit.service.js';
import { notOnCitus, onCitus } from '../../../test/support/citus.js';

/**
 * A database of its own: the tampering below is DDL on audit_events (its append-only trigger, forced RLS),
 * whose ACCESS EXCLUSIVE locks crossed other files' reads of the suite's database (a CLI verification of
 * the audit-log e2e test failed with "deadlock detected").
 */
describe('audit hash chain (real PostgreSQL)', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let owner: pg.Client;
  let runtime: pg.Client;
  let audit: AuditService;

  const ctxOf = (org: string): TenantCtx => ({
    tenantId: org,
    actor: { kind: 'user', userId: 'u-test' },
    requestId: 'r1',
  });
  /** `n` audited writes, then sealed into the chain (unless `seal` is false). */
  async function write(org: string, n: number, action = 'project.created', seal = true): Promise<void> {
    for (let i = 0; i < n; i++) {
      await tenancy.withTenant(org, (t) =>
        recordAudit(t, ctxOf(org), { action, target: { type: 'project', id: `p${i}` }, metadata: { i } }),
      );
    }
    if (seal) await sealAudit(tenancy.withTenant, org);
  }

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_audit_chain');
    tenancy = createTenancy({ url: db.url, poolSize: 12, setter: defaultTestSetter() });
    owner = await connect(db.migrationUrl);
    runtime = await connect(db.url);
    const signer = createAuditSigner(await testJwtKey());
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
  });
  afterAll(async () => {
    await owner?.end();
    await runtime?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it('appends seq 1, 2, 3… each linked to the one before, and verifies', async () => {
    const org = await createTestOrg(tenancy, 'au-chain');
    await write(org, 5);
    const page = await audit.list(ctxOf(org), {});
    expect(page.data.map((e) => e.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(page.data[4]!.prevHash).toBe('0'.repeat(64));
    expect(page.data[3]!.prevHash).toBe(page.data[4]!.hash);
    expect(await audit.verify(ctxOf(org))).toMatchObject({
      valid: true,
      entriesChecked: 5,
      lastSeq: 5,
      firstBrokenSeq: null,
    });
  });

  it('100 concurrent audited writes in one organization produce a gapless, ordered chain', async () => {
    const org = await createTestOrg(tenancy, 'au-conc');
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        tenancy.withTenant(org, async (t) => {
          await t
            .insertInto('projects')
            .values({ organization_id: org, id: crypto.randomUUID(), name: `p${i}` })
            .execute();
          await recordAudit(t, ctxOf(org), {
            action: 'project.created',
            target: { type: 'project', id: `p${i}` },
          });
        }),
      ),
    );
    const seqs: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await audit.list(ctxOf(org), {}, { limit: 200, cursor });
      seqs.push(...page.data.map((e) => e.seq));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(await audit.verify(ctxOf(org))).toMatchObject({ valid: true, entriesChecked: 100, lastSeq: 100 });
  });

  it('a rolled-back change leaves no audit event and no gap', async () => {
    const org = await createTestOrg(tenancy, 'au-rb');
    await write(org, 2);
    await expect(
      tenancy.withTenant(org, async (t) => {
        await recordAudit(t, ctxOf(org), { action: 'project.created', target: { type: 'project' } });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    await write(org, 1);
    expect(await audit.verify(ctxOf(org))).toMatchObject({ valid: true, lastSeq: 3 });
  });

  it('the runtime role cannot UPDATE, DELETE or TRUNCATE audit rows, even in its own tenant', async () => {
    const org = await createTestOrg(tenancy, 'au-rt');
    await write(org, 1);
    for (const stmt of [
      `update audit_events set action = 'x.y' where organization_id = $1`,
      `delete from audit_events where organization_id = $1`,
      `update audit_checkpoints set seq = 0 where organization_id = $1`,
      `delete from audit_checkpoints where organization_id = $1`,
      `delete from audit_chain_heads where organization_id = $1`,
      `insert into audit_events (organization_id, seq, id, occurred_at, actor_type, action, target_type, prev_hash, hash)
       values ($1, 1000, gen_random_uuid(), now(), 'system', 'x.y', 't', '\\x00', '\\x00')`,
    ]) {
      await runtime.query('begin');
      await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await expect(runtime.query(stmt, [org]), stmt).rejects.toThrow(/permission denied/);
      await runtime.query('rollback');
    }
    await expect(runtime.query('truncate audit_events')).rejects.toThrow(/permission denied/);
    await expect(runtime.query('truncate platform_audit_events')).rejects.toThrow(/permission denied/);
    const grants = await owner.query<{ privilege_type: string }>(
      `select privilege_type from information_schema.role_table_grants
        where table_schema = 'public' and table_name = 'audit_events' and grantee = $1 order by 1`,
      [db.roles.runtime],
    );
    // Not even INSERT: events reach the chain only through app_audit_seal, which takes the head lock.
    expect(grants.rows.map((r) => r.privilege_type)).toEqual(['SELECT']);
    await runtime.query('begin');
    await runtime.query(`select set_config('app.tenant_id', $1, true)`, [org]);
    await expect(
      runtime.query(`update audit_chain_heads set seq = 1 where organization_id = $1`, [org]),
    ).rejects.toThrow(/permission denied/);
    await runtime.query('rollback');
    // The seal function refuses an organization other than the scope's tenant, and no scope at all.
    const other = await createTestOrg(tenancy, 'au-rt-other');
    await expect(runtime.query(`select app_audit_seal($1, 10, true)`, [org])).rejects.toThrow(
      /outside the tenant scope/,
    );
    await runtime.query('begin');
    await runtime.query(`select set_config('app.tenant_id', $1, true)`, [other]);
    await expect(runtime.query(`select app_audit_seal($1, 10, true)`, [org])).rejects.toThrow(
      /outside the tenant scope/,
    );
    await runtime.query('rollback');
  });

  it('the trigger refuses UPDATE, DELETE and TRUNCATE even to the owner', async (ctx) => {
    await notOnCitus(
      ctx,
      'the append-only guard triggers exist on plain PostgreSQL only (on Citus, privileges and the signed checkpoints guard the log: docs/citus.md)',
    );
    const org = await createTestOrg(tenancy, 'au-own');
    await write(org, 1);
    await owner.query('begin');
    await owner.query('alter table audit_events no force row level security');
    await owner.query('savepoint s');
    await expect(
      owner.query(`update audit_events set action = 'x.y' where organization_id = $1`, [org]),
    ).rejects.toThrow(/append-only/);
    await owner.query('rollback to savepoint s');
    await expect(owner.query('delete from audit_events')).rejects.toThrow(/append-only/);
    await owner.query('rollback');
    await expect(owner.query('truncate audit_events')).rejects.toThrow(/append-only/);
  });

  it('deleting the organization itself (a purge) takes its audit rows with it; nothing else can', async (ctx) => {
    await notOnCitus(
      ctx,
      'the append-only guard triggers exist on plain PostgreSQL only (on Citus, privileges and the signed checkpoints guard the log: docs/citus.md)',
    );
    const org = await createTestOrg(tenancy, 'au-purge');
    await write(org, 2);
    await audit.checkpoint(ctxOf(org));
    const admin = await connect(db.adminUrl);
    try {
      await expect(admin.query('delete from audit_events where organization_id = $1', [org])).rejects.toThrow(
        /append-only/,
      );
      await admin.query('delete from organizations where id = $1', [org]);
      const left = await admin.query<{ n: number }>(
        `select (select count(*) from audit_events where organization_id = $1)
              + (select count(*) from audit_checkpoints where organization_id = $1)
              + (select count(*) from audit_chain_heads where organization_id = $1) as n`,
        [org],
      );
      expect(Number(left.rows[0]!.n)).toBe(0);
    } finally {
      await admin.end();
    }
  });

  it('tampering as the owner — change, delete, reorder — is named at the first broken seq', async () => {
    const changed = await createTestOrg(tenancy, 'au-t1');
    await write(changed, 6);
    await tamperAuditAsOwner(
      owner,
      `update audit_events set metadata = '{"i": 99}' where organization_id = $1 and seq = 4`,
      [changed],
    );
    expect(await audit.verify(ctxOf(changed))).toMatchObject({
      valid: false,
      firstBrokenSeq: 4,
      reason: 'hash_mismatch',
    });

    const deleted = await createTestOrg(tenancy, 'au-t2');
    await write(deleted, 6);
    await tamperAuditAsOwner(owner, `delete from audit_events where organization_id = $1 and seq = 3`, [
      deleted,
    ]);
    expect(await audit.verify(ctxOf(deleted))).toMatchObject({
      valid: false,
      firstBrokenSeq: 3,
      reason: 'missing_entry',
    });

    const reordered = await createTestOrg(tenancy, 'au-t3');
    await write(reordered, 6);
    const where = `organization_id = '${reordered}'`;
    await tamperAuditAsOwner(
      owner,
      `update audit_events set seq = 1000 where ${where} and seq = 2;
       update audit_events set seq = 2 where ${where} and seq = 5;
       update audit_events set seq = 5 where ${where} and seq = 1000;`,
    );
    expect(await audit.verify(ctxOf(reordered))).toMatchObject({ valid: false, firstBrokenSeq: 2 });

    const truncated = await createTestOrg(tenancy, 'au-t4');
    await write(truncated, 6);
    await tamperAuditAsOwner(owner, `delete from audit_events where organization_id = $1 and seq >= 5`, [
      truncated,
    ]);
    expect(await audit.verify(ctxOf(truncated))).toMatchObject({
      valid: false,
      firstBrokenSeq: 5,
      reason: 'truncated',
    });
  });

  it('a consistently rewritten chain is caught by the signed checkpoint', async () => {
    const org = await createTestOrg(tenancy, 'au-cp');
    await write(org, 2);
    await audit.checkpoint(ctxOf(org));
    await write(org, 2);
    const { checkpoint, created } = await audit.checkpoint(ctxOf(org));
    expect(created).toBe(true);
    expect(checkpoint.statement.seq).toBe(4);
    expect((await audit.checkpoint(ctxOf(org))).created).toBe(false);
    await write(org, 2);
    expect(await audit.verify(ctxOf(org))).toMatchObject({ valid: true, checkpointsChecked: 2, lastSeq: 6 });

    // Rewrite entry 3 and recompute every later hash, the head too: only the signature can tell.
    const all = await owner.query('begin').then(async () => {
      await owner.query('alter table audit_events no force row level security');
      const r = await owner.query(`select * from audit_events where organization_id = $1 order by seq`, [
        org,
      ]);
      await owner.query('rollback');
      return r.rows as Parameters<typeof storedEntry>[0][];
    });
    let prev = storedEntry(all[1]!).hash;
    const rewritten = all.slice(2).map((row, i) => {
      const s = storedEntry(row);
      const entry = i === 0 ? { ...s.entry, metadata: { i: 'forged' } } : s.entry;
      const hash = entryHash(prev, entry);
      const out = { seq: entry.seq, metadata: entry.metadata, prev: prev, hash };
      prev = hash;
      return out;
    });
    const guarded = !(await onCitus());
    await owner.query('begin');
    if (guarded) await owner.query('alter table audit_events disable trigger audit_events_append_only');
    await owner.query('alter table audit_events no force row level security');
    await owner.query('alter table audit_chain_heads no force row level security');
    for (const r of rewritten) {
      await owner.query(
        `update audit_events set metadata = $3, prev_hash = $4, hash = $5 where organization_id = $1 and seq = $2`,
        [org, r.seq, JSON.stringify(r.metadata), r.prev, r.hash],
      );
    }
    await owner.query(`update audit_chain_heads set hash = $2 where organization_id = $1`, [org, prev]);
    await owner.query('alter table audit_events force row level security');
    await owner.query('alter table audit_chain_heads force row level security');
    if (guarded) await owner.query('alter table audit_events enable trigger audit_events_append_only');
    await owner.query('commit');
    // The checkpoint at 2 still holds, the one at 4 does not: the rewrite is in 3..4.
    expect(await audit.verify(ctxOf(org))).toMatchObject({
      valid: false,
      firstBrokenSeq: 3,
      reason: 'checkpoint_mismatch',
    });
  });

  it('after a key rotation, old checkpoints verify with the retired public key, and are only unverifiable without it', async () => {
    const org = await createTestOrg(tenancy, 'au-rot');
    await write(org, 2);
    await audit.checkpoint(ctxOf(org)); // signed with the old key
    const oldKey = audit.publicKey();
    const newSigner = createAuditSigner(await testJwtKey());
    const without = createAuditService({
      withTenant: tenancy.withTenant,
      signer: newSigner,
      verifier: createAuditVerifier([newSigner.publicKey]),
    });
    await write(org, 1);
    await without.checkpoint(ctxOf(org)); // signed with the new key
    expect(await without.verify(ctxOf(org))).toMatchObject({
      valid: true,
      checkpointsChecked: 1,
      checkpointsUnverifiable: 1,
    });
    const withRetired = createAuditService({
      withTenant: tenancy.withTenant,
      signer: newSigner,
      verifier: createAuditVerifier([newSigner.publicKey, { keyId: oldKey.keyId, jwk: oldKey.jwk }]),
      retiredKeys: [oldKey],
    });
    expect(await withRetired.verify(ctxOf(org))).toMatchObject({
      valid: true,
      checkpointsChecked: 2,
      checkpointsUnverifiable: 0,
    });
    expect(withRetired.publicKey().retired.map((k) => k.keyId)).toEqual([oldKey.keyId]);
  });

  it('the periodic job signs only organizations whose head moved', async () => {
    const org = await createTestOrg(tenancy, 'au-job');
    await write(org, 1);
    expect(await audit.checkpointOrganization(org)).toBe(true);
    expect(await audit.checkpointOrganization(org)).toBe(false);
    await write(org, 1);
    expect(await audit.checkpointOrganization(org)).toBe(true);
    const cps = await audit.listCheckpoints(systemCtx(org, 'test'));
    expect(cps.data.map((c) => c.statement.seq)).toEqual([1, 2]);
  });

  it('the job asks only for the chains that moved since their last checkpoint (a named privileged query)', async () => {
    const org = await createTestOrg(tenancy, 'au-moved');
    const keyId = audit.publicKey().keyId;
    // The worker role's question (the runtime role may not enumerate organizations with audit events).
    const workerPool = new pg.Pool({ connectionString: db.workerUrl, max: 1 });
    onTestFinished(() => workerPool.end());
    const moved = async () => {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const page: string[] = await auditChainsToCheckpoint(workerPool, keyId, after, 1000);
        ids.push(...page);
        if (page.length < 1000) return ids;
        after = page[page.length - 1]!;
      }
    };
    expect(await moved()).not.toContain(org); // no events yet
    await write(org, 1, 'project.created', false);
    expect(await moved()).toContain(org); // pending only: signing seals it first
    await write(org, 1);
    expect(await moved()).toContain(org);
    await audit.checkpoint(ctxOf(org));
    expect(await moved()).not.toContain(org);
    await write(org, 1);
    expect(await moved()).toContain(org);
  });

  it('filters by action (exact or prefix), actor, target and time; exports JSON Lines and CSV', async () => {
    const org = await createTestOrg(tenancy, 'au-filter');
    await write(org, 2, 'project.created');
    await write(org, 1, 'member.invited');
    const ctx = ctxOf(org);
    expect((await audit.list(ctx, { action: 'member.invited' })).data).toHaveLength(1);
    expect((await audit.list(ctx, { action: 'project.*' })).data).toHaveLength(2);
    expect(
      (await audit.list(ctx, { actorId: 'u-test', targetType: 'project', targetId: 'p0' })).data,
    ).toHaveLength(2);
    expect((await audit.list(ctx, { from: new Date(Date.now() + 60_000) })).data).toHaveLength(0);
    const page1 = await audit.list(ctx, {}, { limit: 2 });
    const page2 = await audit.list(ctx, {}, { limit: 2, cursor: page1.nextCursor! });
    expect([...page1.data, ...page2.data].map((e) => e.seq)).toEqual([3, 2, 1]);
    let jsonl = '';
    for await (const chunk of audit.export(ctx, {}, 'jsonl')) jsonl += chunk;
    const lines = jsonl
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; hash: string });
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3]);
    let csv = '';
    for await (const chunk of audit.export(ctx, { action: 'member.*' }, 'csv')) csv += chunk;
    expect(csv.split('\r\n')[0]).toMatch(/^seq,id,occurred_at,actor_type/);
    expect(csv.split('\r\n').filter(Boolean)).toHaveLength(2);
  });
});
