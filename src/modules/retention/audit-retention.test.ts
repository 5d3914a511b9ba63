import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { pino } from 'pino';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { backdated, recordAuditEvents, tamperAuditAsOwner } from '../../../test/support/audit.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { testJwtKey } from '../tokens/tokens.test-support.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { sealPending } from '../../platform/audit/seal.js';
import { createAuditSigner, createAuditVerifier, type AuditVerifier } from '../../platform/audit/signing.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { verifyOrganizationChain } from '../audit/audit-verification.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { recordRetentionAudit } from '../../platform/tenancy/privileged-gdpr.js';
import { auditRetentionPurge } from '../../platform/tenancy/privileged-retention.js';
import { createAuditService, type AuditService } from '../audit/audit.service.js';
import { verifyExportFile } from '../../cli/audit-verify.js';
import { auditRetentionRule } from './audit-retention.js';
import { runRetention } from './retention.js';
import { onCitus } from '../../../test/support/citus.js';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;

/**
 * Audit events per plan (migration 0031), on a database of its own (the purge walks every organization):
 * a purge cuts at the newest signed checkpoint whose events are all older than the plan's period, keeps
 * that checkpoint, and every chain still verifies from it — through the API's verification and offline
 * from an export; newer events stay; without a checkpoint old enough nothing goes; the runtime role (and
 * anyone outside the purge function) still cannot delete an audit row.
 */
describe('audit retention per plan', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let runtime: pg.Client;
  let workerPool: pg.Pool;
  let audit: AuditService;
  let verifier: AuditVerifier;
  const orgs: Record<'cut' | 'noCheckpoint' | 'forever' | 'unordered', string> = {
    cut: '',
    noCheckpoint: '',
    forever: '',
    unordered: '',
  };
  const ctxOf = (org: string): TenantCtx => ({
    tenantId: org,
    actor: { kind: 'system', name: 'test' },
    requestId: 'r',
  });
  /** `n` events recorded and sealed `daysAgo` days ago (the clock moved back for them). */
  async function events(org: string, n: number, daysAgo: number, checkpoint = false): Promise<void> {
    await backdated(daysAgo, async () => {
      await recordAuditEvents(tenancy.withTenant, ctxOf(org), n);
      await sealPending(tenancy.withTenant, org);
      if (checkpoint) await audit.checkpoint(ctxOf(org));
    });
  }
  const seqs = async (org: string) =>
    (
      await admin.query<{ seq: string }>(
        'select seq from audit_events where organization_id = $1 order by seq',
        [org],
      )
    ).rows.map((r) => Number(r.seq));
  const checkpointSeqs = async (org: string) =>
    (
      await admin.query<{ seq: string }>(
        'select seq from audit_checkpoints where organization_id = $1 order by seq',
        [org],
      )
    ).rows.map((r) => Number(r.seq));
  const rule = () =>
    auditRetentionRule((now, after, limit) => auditRetentionPurge(workerPool, now, after, limit));

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_audit_ret');
    tenancy = createTenancy({ url: own.url, poolSize: 2 });
    admin = await connect(own.adminUrl);
    runtime = await connect(own.url);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    const signer = createAuditSigner(await testJwtKey());
    verifier = createAuditVerifier([signer.publicKey]);
    audit = createAuditService({ withTenant: tenancy.withTenant, signer, verifier });
    for (const k of Object.keys(orgs) as (keyof typeof orgs)[]) {
      orgs[k] = (
        await createBareOrganization(tenancy.withTenant, { slug: `ar-${k.toLowerCase()}`, name: k })
      ).id;
    }
    await admin.query(`update organizations set plan = 'enterprise' where id = $1`, [orgs.forever]);
    // On free (90 days): checkpoints at 5 (200 days ago) and 10 (150 days ago); 11-13 are 100 days old
    // but no checkpoint closes them before newer events; 14-15 (10 days ago, checkpoint), 16 today.
    await events(orgs.cut, 5, 200, true);
    await events(orgs.cut, 5, 150, true);
    await events(orgs.cut, 3, 100);
    await events(orgs.cut, 2, 10, true);
    await events(orgs.cut, 1, 0);
    // Old events, but the only checkpoint also covers a recent one.
    await events(orgs.noCheckpoint, 3, 200);
    await events(orgs.noCheckpoint, 1, 10, true);
    // Enterprise keeps its events forever.
    await events(orgs.forever, 3, 5000, true);
    // occurred_at does not follow seq everywhere (the sealing order is the chain's): an old event sealed
    // after a recent one is not cut with the old events before them.
    await events(orgs.unordered, 1, 200, true);
    await events(orgs.unordered, 1, 10);
    await events(orgs.unordered, 1, 200, true);
  }, 120_000);
  afterEach(() => vi.useRealTimers());
  afterAll(async () => {
    await workerPool?.end();
    await runtime?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('seeds the plans with an audit retention: free 90 days, pro 365, enterprise forever', async () => {
    const plans = await admin.query<{ key: string; audit_retention_days: number | null }>(
      `select key, audit_retention_days from plans where key in ('free', 'pro', 'enterprise') order by key`,
    );
    expect(plans.rows).toEqual([
      { key: 'enterprise', audit_retention_days: null },
      { key: 'free', audit_retention_days: 90 },
      { key: 'pro', audit_retention_days: 365 },
    ]);
  });

  it('purges in batches up to the cut, and the chain verifies between batches and after', async () => {
    const r = rule();
    // Only whole segments go (a cut is always at a checkpoint, migration 0036): with a limit of 7, 1-5 go,
    // and 6-10 (5 more) wait for the next call; the chain starts right after the checkpoint at 5.
    expect(await auditRetentionPurge(workerPool, new Date(), null, 7)).toMatchObject({
      deleted: 5,
      more: true,
    });
    expect((await seqs(orgs.cut))[0]).toBe(6);
    expect(await checkpointSeqs(orgs.cut)).toEqual([5, 10, 15]);
    expect(await audit.verify(ctxOf(orgs.cut))).toMatchObject({ valid: true, anchorSeq: 5 });
    // A call's first segment goes whole, even past the limit (an hour of events: checkpoints are hourly).
    expect(await auditRetentionPurge(workerPool, new Date(), null, 1)).toMatchObject({
      deleted: 5,
      more: true,
    });
    expect((await seqs(orgs.cut))[0]).toBe(11);
    expect(await audit.verify(ctxOf(orgs.cut))).toMatchObject({ valid: true, anchorSeq: 10 });
    let total = 10;
    for (;;) {
      const n = await r.purgeBatch(new Date(), 3);
      total += n;
      if (n < 3) break;
    }
    expect(total).toBe(11); // 10 here, 1 of `unordered`
    // Events 1-10 gone, 11-16 kept (11-13 are old, but only the checkpoint at 15 closes them).
    expect(await seqs(orgs.cut)).toEqual([11, 12, 13, 14, 15, 16]);
    // The cut's checkpoint is kept, the one below it went with its events.
    expect(await checkpointSeqs(orgs.cut)).toEqual([10, 15]);
    expect(await audit.verify(ctxOf(orgs.cut))).toMatchObject({
      valid: true,
      anchorSeq: 10,
      entriesChecked: 6,
      lastSeq: 16,
      checkpointsChecked: 2,
      firstBrokenSeq: null,
    });
    // No checkpoint old enough, or a plan that keeps everything: nothing purged.
    expect(await seqs(orgs.noCheckpoint)).toEqual([1, 2, 3, 4]);
    expect(await seqs(orgs.forever)).toEqual([1, 2, 3]);
    expect(await audit.verify(ctxOf(orgs.noCheckpoint))).toMatchObject({ valid: true, anchorSeq: null });
    // Only up to the checkpoint at 1: the one at 3 also covers seq 2, 10 days old.
    expect(await seqs(orgs.unordered)).toEqual([2, 3]);
    expect(await audit.verify(ctxOf(orgs.unordered))).toMatchObject({ valid: true, anchorSeq: 1 });
  });

  it('new events link on after the cut, and an export verifies offline from the kept checkpoint', async () => {
    await events(orgs.cut, 2, 0, true);
    expect(await audit.verify(ctxOf(orgs.cut))).toMatchObject({ valid: true, anchorSeq: 10, lastSeq: 18 });
    const dir = await mkdtemp(join(tmpdir(), 'audit-ret-'));
    try {
      let lines = '';
      for await (const chunk of audit.export(ctxOf(orgs.cut), {}, 'jsonl')) lines += chunk;
      await writeFile(join(dir, 'export.jsonl'), lines);
      const checkpoints = await audit.listCheckpoints(ctxOf(orgs.cut), { limit: 100 });
      await writeFile(join(dir, 'checkpoints.json'), JSON.stringify(checkpoints));
      await writeFile(join(dir, 'key.json'), JSON.stringify(audit.publicKey()));
      expect(
        await verifyExportFile({
          file: join(dir, 'export.jsonl'),
          checkpoints: [join(dir, 'checkpoints.json')],
          publicKey: join(dir, 'key.json'),
        }),
      ).toMatchObject({ valid: true, anchorSeq: 10, lastSeq: 18 });
      // Without the checkpoints, nothing anchors the export's first entry.
      expect(await verifyExportFile({ file: join(dir, 'export.jsonl') })).toMatchObject({
        valid: false,
        reason: 'missing_entry',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('only the purge function deletes: not the runtime role, not anyone setting the cut by hand', async () => {
    for (const stmt of ['delete from audit_events', 'delete from audit_checkpoints']) {
      await runtime.query('begin');
      try {
        await runtime.query(`select set_config('app.tenant_id', $1, true)`, [orgs.cut]);
        await runtime.query(`select set_config('app.audit_retention_cut', $1, true)`, [`${orgs.cut}/100`]);
        await expect(runtime.query(`${stmt} where organization_id = $1`, [orgs.cut])).rejects.toThrow(
          /permission denied/,
        );
      } finally {
        await runtime.query('rollback');
      }
      // The superuser passes every grant and RLS; the append-only trigger still refuses it (plain
      // PostgreSQL: on Citus the guard triggers are replaced by privileges alone, docs/citus.md).
      if (await onCitus()) continue;
      await admin.query('begin');
      try {
        await admin.query(`select set_config('app.audit_retention_cut', $1, true)`, [`${orgs.cut}/100`]);
        await expect(admin.query(`${stmt} where organization_id = $1`, [orgs.cut])).rejects.toThrow(
          /append-only/,
        );
      } finally {
        await admin.query('rollback');
      }
    }
    expect(await seqs(orgs.cut)).toHaveLength(8);
  });

  it('a run records the count in the platform chain and a second run purges nothing more', async () => {
    // A cut becomes due: everything of the noCheckpoint organization is now older than 1 day except none.
    await admin.query(`update plans set audit_retention_days = 1 where key = 'free'`);
    // As if the plan had been shortened more than 30 days ago (the grace has its own test below).
    await admin.query(`update organizations set audit_retention_days_seen = 1 where plan = 'free'`);
    // The hourly checkpoint signs the retention now in force (the purge waits for a signed statement of a
    // shortened retention, migration 0069).
    for (const org of [orgs.cut, orgs.noCheckpoint, orgs.unordered]) await audit.checkpoint(ctxOf(org));
    const run = () =>
      runRetention({
        rules: [rule()],
        audit: (event) => recordRetentionAudit(createPlatformDb(workerPool), 'job:retention_purge', event),
        log,
      });
    // noCheckpoint: its checkpoint at 4 is 10 days old: 1-4 go. cut: 11-15 (checkpoint at 15, 10 days ago).
    // unordered: 2-3.
    expect(await run()).toEqual({ audit_events: 11 });
    expect(await seqs(orgs.unordered)).toEqual([]);
    expect(await seqs(orgs.noCheckpoint)).toEqual([]);
    expect(await audit.verify(ctxOf(orgs.noCheckpoint))).toMatchObject({
      valid: true,
      anchorSeq: 4,
      entriesChecked: 0,
      lastSeq: 4,
    });
    expect(await seqs(orgs.cut)).toEqual([16, 17, 18]);
    expect(await audit.verify(ctxOf(orgs.cut))).toMatchObject({ valid: true, anchorSeq: 15 });
    expect(await seqs(orgs.forever)).toEqual([1, 2, 3]);
    expect(await run()).toEqual({ audit_events: 0 });
    const events = await admin.query<{ metadata: unknown }>(
      `select metadata from platform_audit_events where action = 'retention.purged' order by seq`,
    );
    expect(events.rows.map((r) => r.metadata)).toEqual([
      { purged: [{ kind: 'audit_events', deleted: 11, keep_days: 'plan' }] },
      { purged: [{ kind: 'audit_events', deleted: 0, keep_days: 'plan' }] },
    ]);
  });

  it('a purge committed while a verification reads the chain does not make it report a break', async () => {
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'ar-race', name: 'race' })).id;
    // Two old segments (checkpoints at 2 and 4), one recent event (checkpoint at 5).
    await events(org, 2, 200, true);
    await events(org, 2, 200, true);
    await events(org, 1, 0, true);
    // The purge commits between the verification's read of the checkpoints and its read of the entries.
    let reads = 0;
    const racing: WithTenant = async (tenant, fn, opts) => {
      if (opts?.mode === 'read' && ++reads === 2) {
        expect(
          await auditRetentionPurge(workerPool, new Date(), { organizationId: org, include: true }, 100),
        ).toMatchObject({ organizationId: org, deleted: 4 });
      }
      return tenancy.withTenant(tenant, fn, opts);
    };
    expect(await verifyOrganizationChain(racing, verifier, org)).toMatchObject({
      valid: true,
      anchorSeq: 4,
      lastSeq: 5,
    });
  });

  it('a shortened retention purges only 30 days after the change: a plan change and an edit of the plan', async () => {
    const changed = (await createBareOrganization(tenancy.withTenant, { slug: 'ar-changed', name: 'c' })).id;
    const edited = (await createBareOrganization(tenancy.withTenant, { slug: 'ar-edited', name: 'e' })).id;
    await admin.query(`update organizations set plan = 'enterprise' where id = $1`, [changed]);
    await admin.query(`update organizations set plan = 'pro' where id = $1`, [edited]);
    for (const org of [changed, edited]) {
      await events(org, 2, 200, true);
      await events(org, 1, 0, true);
    }
    /** One daily run: the walk over every organization from the start. */
    const run = async () => {
      let after: { organizationId: string; include: boolean } | null = null;
      for (;;) {
        const b = await auditRetentionPurge(workerPool, new Date(), after, 1000);
        if (!b) return;
        after = { organizationId: b.organizationId, include: b.more };
      }
    };
    const grace = async (org: string) =>
      (
        await admin.query<{ days: number | null; until: Date | null }>(
          `select audit_retention_grace_days as days, audit_retention_grace_until as until
             from organizations where id = $1`,
          [org],
        )
      ).rows[0]!;
    try {
      await run(); // Seen: forever (enterprise) and 365 days (pro); 200-day-old events stay.
      expect(await seqs(changed)).toEqual([1, 2, 3]);
      expect(await seqs(edited)).toEqual([1, 2, 3]);
      // Shortened: a plan change (forever → 1 day) and an edit of the plan (365 → 100 days).
      await admin.query(`update organizations set plan = 'free' where id = $1`, [changed]);
      await admin.query(`update plans set audit_retention_days = 100 where key = 'pro'`);
      await run();
      await run();
      expect(await seqs(changed)).toEqual([1, 2, 3]);
      expect(await seqs(edited)).toEqual([1, 2, 3]);
      const g = await grace(changed);
      expect(g.days).toBeNull();
      expect(g.until!.getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
      expect(g.until!.getTime()).toBeLessThan(Date.now() + 31 * DAY);
      expect((await grace(edited)).days).toBe(365);
      // The second run did not extend the grace.
      expect((await grace(changed)).until).toEqual(g.until);
      // 30 days later: the shortened retention holds; each chain is cut at its checkpoint and verifies.
      await admin.query(
        `update organizations set audit_retention_grace_until = now() - interval '1 second'
          where id = any($1::uuid[])`,
        [[changed, edited]],
      );
      // The hourly checkpoint signs the shortened retention now in force; then the purge applies it.
      for (const org of [changed, edited]) await audit.checkpoint(ctxOf(org));
      await run();
      for (const org of [changed, edited]) {
        expect(await seqs(org)).toEqual([3]);
        expect(await audit.verify(ctxOf(org))).toMatchObject({ valid: true, anchorSeq: 2 });
      }
    } finally {
      await admin.query(`update plans set audit_retention_days = 365 where key = 'pro'`);
    }
  });

  it('cuts only at a checkpoint signed before the cutoff, records the retention, and verify holds the anchor to it', async () => {
    const purgeOnly = (org: string) =>
      auditRetentionPurge(workerPool, new Date(), { organizationId: org, include: true }, 1000);
    const cutDays = async (org: string) =>
      (
        await admin.query<{ days: number | null }>(
          'select audit_retention_cut_days as days from organizations where id = $1',
          [org],
        )
      ).rows[0]!.days;
    // Old events whose only checkpoint was signed today (a late one): no purge could cut there, so none does.
    const late = (await createBareOrganization(tenancy.withTenant, { slug: 'ar-late', name: 'late' })).id;
    await admin.query(`update organizations set plan = 'pro' where id = $1`, [late]);
    await events(late, 3, 400);
    await audit.checkpoint(ctxOf(late));
    await purgeOnly(late);
    expect(await seqs(late)).toEqual([1, 2, 3]);
    expect(await cutDays(late)).toBeNull();
    // On pro (365 days): segments closed 400 days ago (cut) and 100 days ago (kept), and one of today.
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'ar-anchor', name: 'anchor' })).id;
    await admin.query(`update organizations set plan = 'pro' where id = $1`, [org]);
    await events(org, 2, 400, true);
    await events(org, 2, 100, true);
    await events(org, 1, 0, true);
    expect(await purgeOnly(org)).toMatchObject({ organizationId: org, deleted: 2 });
    expect(await seqs(org)).toEqual([3, 4, 5]);
    expect(await cutDays(org)).toBe(365);
    expect(await audit.verify(ctxOf(org))).toMatchObject({ valid: true, anchorSeq: 2, breaks: [] });
    // The owner deletes up to the checkpoint of 100 days ago: older than the shortest retention a plan
    // can set, but not than the 365 days this organization's purge applied. Not a purge: a break.
    await tamperAuditAsOwner(admin, 'delete from audit_events where organization_id = $1 and seq <= 4', [
      org,
    ]);
    // And the checkpoint below it, as the purge would have (the owner can lift that table's guard too).
    const guarded = !(await onCitus());
    await admin.query('begin');
    if (guarded)
      await admin.query('alter table audit_checkpoints disable trigger audit_checkpoints_append_only');
    await admin.query('delete from audit_checkpoints where organization_id = $1 and seq < 4', [org]);
    if (guarded)
      await admin.query('alter table audit_checkpoints enable trigger audit_checkpoints_append_only');
    await admin.query('commit');
    expect(await checkpointSeqs(org)).toEqual([4, 5]);
    expect(await audit.verify(ctxOf(org))).toMatchObject({
      valid: false,
      anchorSeq: 4,
      firstBrokenSeq: 1,
      reason: 'cut_before_retention',
    });
  });
});
