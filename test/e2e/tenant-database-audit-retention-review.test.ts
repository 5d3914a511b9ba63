import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { recordAuditEvents, recordBackdatedAuditEvents, sealAudit, systemCtx } from '../support/audit.js';
import { testAuditKey } from '../support/app.js';
import { tenantDatabasesOption } from './helpers.js';
import { testPool } from '../support/pools.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import { createAuditSigner, createAuditVerifier } from '../../src/platform/audit/signing.js';
import { createAuditService, type AuditService } from '../../src/modules/audit/audit.service.js';
import { retentionCutDays } from '../../src/modules/audit/audit.repository.js';
import { verifyOrganizationBySlug } from '../../src/cli/audit-verify.js';

/**
 * Audit retention of organizations in a tenant database (`database` placement, migration 0077): the
 * retention job's audit rule and the hourly checkpoint scan on the tenant database `eu-1` take each
 * organization's retention from the control database (its plan there), not from the organization row's
 * copy in `eu-1` (the default plan, free: 90 days). Each chain is verified afterwards, as
 * `npx saasready audit verify --org` does.
 */
describe('review: the tenant database audit purge trusts the retention its caller gives', () => {
  let control: ProvisionedDatabase;
  let eu: ProvisionedDatabase;
  let tenancy: Tenancy;
  let audit: AuditService;
  let admin: pg.Client;
  let euAdmin: pg.Client;
  let controlWorker: pg.Pool;
  let euWorker: pg.Pool;
  const databases = () =>
    tenantDatabasesOption(
      { 'eu-1': { url: eu.url, workerUrl: eu.workerUrl } },
      { maxConnections: 4, poolSize: 2 },
    );

  /** An organization created in the control database on `plan` there, placed in `eu-1` by hand (its row
   *  copied there on the default plan). */
  async function placedOn(plan: string, slug: string): Promise<string> {
    const org = (await createBareOrganization(tenancy.withTenant, { slug, name: slug })).id;
    await admin.query(
      `update tenant_placements set kind = 'database', database_key = 'eu-1' where organization_id = $1`,
      [org],
    );
    await admin.query('update organizations set plan = $2 where id = $1', [org, plan]);
    tenancy.router.invalidate(org);
    await euAdmin.query('insert into organizations (id, slug, name) values ($1, $2, $3)', [org, slug, slug]);
    return org;
  }
  /** 3 events and a checkpoint 200 days back (past the free plan's 90 days), then 1 event now. */
  async function oldHistory(org: string): Promise<void> {
    await recordBackdatedAuditEvents(tenancy.withTenant, audit, org, 3, 200, true);
    await recordAuditEvents(tenancy.withTenant, systemCtx(org), 1);
    await sealAudit(tenancy.withTenant, org);
  }
  const seqs = async (org: string) =>
    (
      await euAdmin.query<{ seq: string }>(
        'select seq from audit_events where organization_id = $1 order by seq',
        [org],
      )
    ).rows.map((r) => Number(r.seq));
  async function verify(slug: string) {
    const pool = testPool({ connectionString: control.url, max: 2 });
    try {
      return await verifyOrganizationBySlug(pool, await testAuditKey(), slug, [], databases());
    } finally {
      await pool.end();
    }
  }

  beforeAll(async () => {
    [control, eu] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_auditrev'),
      provisionDatabase(testDb().superuserUrl, 'sr_auditrev_eu', { tenantDatabase: true }),
    ]);
    tenancy = createTenancy({
      url: control.url,
      poolSize: 2,
      tenantDatabases: { databases: { 'eu-1': { url: eu.url } }, maxConnections: 4 },
    });
    const signer = createAuditSigner(await testAuditKey());
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
    admin = await connect(control.adminUrl);
    euAdmin = await connect(eu.adminUrl);
    controlWorker = testPool({ connectionString: control.workerUrl, max: 1 });
    euWorker = testPool({ connectionString: eu.workerUrl, max: 1 });
  }, 120_000);
  afterAll(async () => {
    await controlWorker?.end();
    await euWorker?.end();
    await admin?.end();
    await euAdmin?.end();
    await tenancy?.close();
    for (const db of [control, eu]) if (db) await dropProvisioned(db);
  });

  it('a worker-given retention shorter than the plan cuts a chain whose head checkpoint states "kept forever"', async () => {
    // On the free plan (90 days) with a checkpoint 200 days back (stating 90), then upgraded to
    // enterprise (kept forever) and signed again: the head's checkpoint states "forever".
    const slug = 'rev-forever';
    const org = await placedOn('free', slug);
    await oldHistory(org);
    await admin.query(`update organizations set plan = 'enterprise' where id = $1`, [org]);
    tenancy.router.invalidate(org);
    await audit.checkpointOrganization(org);
    const stated = await euAdmin.query<{ retention_days: number | null }>(
      'select retention_days from audit_checkpoints where organization_id = $1 and statement_v = 2 order by seq',
      [org],
    );
    expect(stated.rows.map((r) => r.retention_days)).toEqual([90, null]);
    // The tenant database's worker role (its workerUrl) calls the purge with the old plan's period.
    const res = await euWorker.query<{ deleted: number }>(
      `select deleted from worker_api.app_retention_purge_audit_given(now(), null, false, 10000,
         array[$1]::uuid[], array[90])`,
      [org],
    );
    const verified = await verify(slug);
    // Wanted: nothing purged (the plan keeps it forever; docs: "never when one states kept forever").
    expect({ deleted: res.rows, seqs: await seqs(org), verifies: verified?.valid }).toEqual({
      deleted: [],
      seqs: [1, 2, 3, 4],
      verifies: true,
    });
  });
  it('verification reads the cut period from the control database row, as documented (the record the purge writes on the copy goes unused)', async () => {
    const org = await placedOn('free', 'rev-cutdays');
    await admin.query('update organizations set audit_retention_cut_days = 8 where id = $1', [org]);
    await euAdmin.query('update organizations set audit_retention_cut_days = 7 where id = $1', [org]);
    const read = await tenancy.withTenant(org, (db) => retentionCutDays(db, org), { mode: 'read' });
    // docs/isolation-models.md: "verification reads the control database's row".
    expect(read).toBe(8);
  });
});
