/**
 * Hostile review of verification's `cut_before_retention` (src/platform/audit/verify-chain.ts, migration
 * 0068, src/modules/audit/audit-verification.ts): a chain cut at a signed checkpoint is accepted when the
 * checkpoint was signed longer ago than `organizations.audit_retention_cut_days`, and, when that column is
 * null, longer ago than ONE day (the shortest retention a plan can set). The column is written by the
 * purge, but it is an unsigned column of a row the database owner (the attacker this check is about) can
 * rewrite, and it is null for every organization no purge has cut since 0068. So the owner can still
 * delete any history older than a day up to a checkpoint (signed hourly, so one always exists), on a plan
 * that keeps 365 days, and verification answers valid:
 * - an organization never cut: nothing to rewrite, the 1-day default applies;
 * - an organization cut before: set the column back to null (or 1) first.
 * The bound needs to come from something the owner cannot rewrite (e.g. the retention in force written
 * into each signed checkpoint statement, verification holding the anchor to the longest retention the
 * checkpoints after it state), or at least from the organization's plan retention rather than 1 day.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordBackdatedAuditEvents, systemCtx, tamperAuditAsOwner } from '../support/audit.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { onCitus } from '../support/citus.js';
import { testJwtKey } from '../../src/modules/tokens/tokens.test-support.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import { createAuditSigner, createAuditVerifier } from '../../src/platform/audit/signing.js';
import { auditRetentionPurge } from '../../src/platform/tenancy/privileged-retention.js';
import { createAuditService, type AuditService } from '../../src/modules/audit/audit.service.js';

describe('review6: audit cut bound held by an unsigned column', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let workerPool: pg.Pool;
  let audit: AuditService;
  const events = (org: string, n: number, daysAgo: number, checkpoint = false) =>
    recordBackdatedAuditEvents(tenancy.withTenant, audit, org, n, daysAgo, checkpoint);
  /** The owner deletes entries up to `seq` and the checkpoints below it, as a purge would look. */
  async function cutAsOwner(org: string, seq: number): Promise<void> {
    await tamperAuditAsOwner(admin, 'delete from audit_events where organization_id = $1 and seq <= $2', [
      org,
      seq,
    ]);
    const guarded = !(await onCitus());
    await admin.query('begin');
    if (guarded)
      await admin.query('alter table audit_checkpoints disable trigger audit_checkpoints_append_only');
    await admin.query('delete from audit_checkpoints where organization_id = $1 and seq < $2', [org, seq]);
    if (guarded)
      await admin.query('alter table audit_checkpoints enable trigger audit_checkpoints_append_only');
    await admin.query('commit');
  }
  const proOrg = async (slug: string) => {
    const id = (await createBareOrganization(tenancy.withTenant, { slug, name: slug })).id;
    await admin.query(`update organizations set plan = 'pro' where id = $1`, [id]);
    return id;
  };

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_review6_cut');
    tenancy = createTenancy({ url: own.url, poolSize: 2 });
    admin = await connect(own.adminUrl);
    workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    const signer = createAuditSigner(await testJwtKey());
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
  }, 120_000);
  afterEach(() => vi.useRealTimers());
  afterAll(async () => {
    await workerPool?.end();
    await admin?.end();
    await tenancy?.close();
    if (own) await dropProvisioned(own);
  });

  it('the owner deleting 10-day-old history of a never-purged organization on a 365-day plan is a break', async () => {
    const org = await proOrg('r6-never-cut');
    await events(org, 3, 10, true); // seq 1-3, checkpoint at 3 signed 10 days ago
    await events(org, 1, 0, true); // seq 4 today
    expect(await audit.verify(systemCtx(org))).toMatchObject({ valid: true, anchorSeq: null });
    await cutAsOwner(org, 3);
    // On main: {valid: true, anchorSeq: 3}: passes as a retention purge on a plan that keeps 365 days.
    expect(await audit.verify(systemCtx(org))).toMatchObject({
      valid: false,
      anchorSeq: 3,
      reason: 'cut_before_retention',
    });
  });

  it('the owner resetting audit_retention_cut_days does not make a too-recent cut pass', async () => {
    const org = await proOrg('r6-reset-days');
    await events(org, 2, 400, true); // seq 1-2, checkpoint at 2 (400 days ago): a purge cuts there
    await events(org, 2, 100, true); // seq 3-4, checkpoint at 4 (100 days ago)
    await events(org, 1, 0, true); // seq 5 today
    await auditRetentionPurge(workerPool, new Date(), { organizationId: org, include: true }, 1000);
    const days = await admin.query<{ d: number | null }>(
      'select audit_retention_cut_days as d from organizations where id = $1',
      [org],
    );
    expect(days.rows[0]!.d).toBe(365);
    expect(await audit.verify(systemCtx(org))).toMatchObject({ valid: true, anchorSeq: 2 });
    // The owner cuts at the 100-day checkpoint (inside the 365 days) and forgets the recorded retention.
    await cutAsOwner(org, 4);
    await admin.query('update organizations set audit_retention_cut_days = null where id = $1', [org]);
    // On main: {valid: true, anchorSeq: 4}.
    expect(await audit.verify(systemCtx(org))).toMatchObject({
      valid: false,
      anchorSeq: 4,
      reason: 'cut_before_retention',
    });
  });
});
