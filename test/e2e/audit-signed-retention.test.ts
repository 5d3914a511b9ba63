/**
 * The retention a chain cut is held to is signed (migration 0069): each checkpoint states the audit
 * retention in force when it was signed, in a version 2 statement; verification holds a cut at a
 * checkpoint to the shortest retention the checked checkpoints from it on state. The database owner
 * cannot change or strip a stated retention without breaking the signature; a retention raised after a
 * purge does not make the purge look like tampering; the hourly checkpoint scan signs a changed retention;
 * the runtime role cannot write the purge's own columns of `organizations`.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordBackdatedAuditEvents, systemCtx } from '../support/audit.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { onCitus } from '../support/citus.js';
import { testJwtKey } from '../../src/modules/tokens/tokens.test-support.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import {
  createAuditSigner,
  createAuditVerifier,
  type AuditSigner,
} from '../../src/platform/audit/signing.js';
import { auditRetentionPurge } from '../../src/platform/tenancy/privileged-retention.js';
import { auditChainsToCheckpoint } from '../../src/platform/tenancy/privileged.js';
import { createAuditService, type AuditService } from '../../src/modules/audit/audit.service.js';

describe('audit checkpoints sign the retention in force', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let runtime: pg.Client;
  let workerPool: pg.Pool;
  let signer: AuditSigner;
  let audit: AuditService;
  const events = (org: string, n: number, daysAgo: number, checkpoint = false) =>
    recordBackdatedAuditEvents(tenancy.withTenant, audit, org, n, daysAgo, checkpoint);
  const orgOn = async (slug: string, plan: string) => {
    const id = (await createBareOrganization(tenancy.withTenant, { slug, name: slug })).id;
    await admin.query('update organizations set plan = $2 where id = $1', [id, plan]);
    return id;
  };
  /** The owner rewrites a checkpoint row (lifting the append-only guard, as the owner can). */
  async function rewriteCheckpointAsOwner(stmt: string, params: unknown[]): Promise<void> {
    const guarded = !(await onCitus());
    await admin.query('begin');
    if (guarded)
      await admin.query('alter table audit_checkpoints disable trigger audit_checkpoints_append_only');
    await admin.query(stmt, params);
    if (guarded)
      await admin.query('alter table audit_checkpoints enable trigger audit_checkpoints_append_only');
    await admin.query('commit');
  }

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_audit_signed_ret');
    tenancy = createTenancy({ url: own.url, poolSize: 2 });
    admin = await connect(own.adminUrl);
    runtime = await connect(own.url);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    signer = createAuditSigner(await testJwtKey());
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
  }, 120_000);
  afterEach(() => vi.useRealTimers());
  afterAll(async () => {
    await workerPool?.end();
    await runtime?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('a checkpoint states the retention in force (pro: 365 days, enterprise: forever) in a version 2 statement', async () => {
    const pro = await orgOn('sr-pro', 'pro');
    const ent = await orgOn('sr-ent', 'enterprise');
    await events(pro, 1, 0);
    await events(ent, 1, 0);
    const p = await audit.checkpoint(systemCtx(pro));
    const e = await audit.checkpoint(systemCtx(ent));
    expect(p.checkpoint.statement).toMatchObject({ v: 2, seq: 1, retention_days: 365 });
    expect(e.checkpoint.statement).toMatchObject({ v: 2, seq: 1, retention_days: null });
    expect(await audit.verify(systemCtx(pro))).toMatchObject({ valid: true, checkpointsChecked: 1 });
  });

  it('the owner cannot change or strip a stated retention: the signature breaks', async () => {
    const changed = await orgOn('sr-changed', 'pro');
    const stripped = await orgOn('sr-stripped', 'pro');
    for (const org of [changed, stripped]) await events(org, 2, 0, true);
    await rewriteCheckpointAsOwner(
      'update audit_checkpoints set retention_days = 1 where organization_id = $1',
      [changed],
    );
    await rewriteCheckpointAsOwner(
      'update audit_checkpoints set statement_v = 1, retention_days = null where organization_id = $1',
      [stripped],
    );
    for (const org of [changed, stripped]) {
      expect(await audit.verify(systemCtx(org))).toMatchObject({
        valid: false,
        firstBrokenSeq: 2,
        reason: 'bad_signature',
      });
    }
  });

  it('a retention raised after a purge does not flag the purge; the hourly scan signs the new retention', async () => {
    const org = await orgOn('sr-raised', 'pro');
    await events(org, 2, 400, true); // checkpoint at 2, 400 days ago (365 days stated)
    await events(org, 1, 0, true);
    expect(
      await auditRetentionPurge(workerPool, new Date(), { organizationId: org, include: true }, 1000),
    ).toMatchObject({ organizationId: org, deleted: 2 });
    expect(await audit.verify(systemCtx(org))).toMatchObject({ valid: true, anchorSeq: 2 });
    // Raised to forever: the scan lists the chain (its head's checkpoint states 365 days), signs it.
    await admin.query(`update organizations set plan = 'enterprise' where id = $1`, [org]);
    expect(await auditChainsToCheckpoint(workerPool, signer.keyId, null, 1000)).toContain(org);
    expect((await audit.checkpoint(systemCtx(org))).checkpoint.statement).toMatchObject({
      seq: 3,
      retention_days: null,
    });
    expect(await auditChainsToCheckpoint(workerPool, signer.keyId, null, 1000)).not.toContain(org);
    await events(org, 1, 0, true);
    // The anchor itself states the 365 days the purge applied: still valid.
    expect(await audit.verify(systemCtx(org))).toMatchObject({ valid: true, anchorSeq: 2, lastSeq: 4 });
  });

  it('the runtime role cannot write the purge’s columns of organizations', async () => {
    const org = await orgOn('sr-runtime', 'pro');
    for (const col of [
      'audit_retention_cut_days',
      'audit_retention_grace_until',
      'audit_retention_days_seen',
    ]) {
      await expect(
        runtime.query(`update organizations set ${col} = null where id = $1`, [org]),
      ).rejects.toThrow(/permission denied/);
    }
    // Its other columns stay writable (RLS still scopes the rows: none outside a tenant scope).
    await expect(
      runtime.query('update organizations set name = name where id = $1', [org]),
    ).resolves.toBeTruthy();
  });
});
