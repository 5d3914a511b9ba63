import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { pino } from 'pino';
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
import { verifyOrganizationBySlug } from '../../src/cli/audit-verify.js';
import { auditChainsToCheckpoint } from '../../src/platform/tenancy/privileged.js';
import { GDPR_DEFAULTS } from '../../src/platform/config-gdpr.js';
import {
  checkpointListing,
  retentionRules,
  type SweepTarget,
} from '../../src/app/compose/tenant-database-sweeps.js';

/**
 * Audit retention of organizations in a tenant database (`database` placement, migration 0077): the
 * retention job's audit rule and the hourly checkpoint scan on the tenant database `eu-1` take each
 * organization's retention from the control database (its plan there), not from the organization row's
 * copy in `eu-1` (the default plan, free: 90 days). Each chain is verified afterwards, as
 * `npx saasready audit verify --org` does.
 */
describe('tenant databases: audit retention by the control database plans', () => {
  let control: ProvisionedDatabase;
  let eu: ProvisionedDatabase;
  let tenancy: Tenancy;
  let audit: AuditService;
  let admin: pg.Client;
  let euAdmin: pg.Client;
  let controlWorker: pg.Pool;
  let euWorker: pg.Pool;
  let target: SweepTarget;
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
  /** The retention job's audit rule on `eu-1`, run to the end. */
  async function auditRetention(): Promise<number> {
    const rule = retentionRules(target, GDPR_DEFAULTS.retention).find((r) => r.kind === 'audit_events')!;
    let total = 0;
    for (;;) {
      const n = await rule.purgeBatch(new Date(), 10_000);
      total += n;
      if (n === 0) return total;
    }
  }
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
      provisionDatabase(testDb().superuserUrl, 'sr_auditret'),
      provisionDatabase(testDb().superuserUrl, 'sr_auditret_eu', { tenantDatabase: true }),
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
    target = { pool: euWorker, log: pino({ level: 'silent' }), database: 'eu-1', control: controlWorker };
  }, 120_000);
  afterAll(async () => {
    await controlWorker?.end();
    await euWorker?.end();
    await admin?.end();
    await euAdmin?.end();
    await tenancy?.close();
    for (const db of [control, eu]) if (db) await dropProvisioned(db);
  });

  it('purges, by the plan of the control database, the events before a signed checkpoint; keeps the rest', async () => {
    // `pro` (365 days) in the tenant database's seeded catalog; 30 days in the control database's.
    await admin.query(`update plans set audit_retention_days = 30 where key = 'pro'`);
    const shortSlug = 'ret-short';
    const short = await placedOn('pro', shortSlug);
    const foreverSlug = 'ret-forever';
    const forever = await placedOn('enterprise', foreverSlug);
    const upgradedSlug = 'ret-upgraded';
    const upgraded = await placedOn('free', upgradedSlug);
    for (const org of [short, forever, upgraded]) await oldHistory(org);
    // Upgraded in the control database after its old checkpoint (which states the free plan's 90 days).
    await admin.query(`update organizations set plan = 'enterprise' where id = $1`, [upgraded]);
    // The copies in eu-1 are all on the default plan (free, 90 days): were it applied, all three would be cut.
    const copies = await euAdmin.query<{ plan: string }>(
      'select distinct plan from organizations where id = any ($1::uuid[])',
      [[short, forever, upgraded]],
    );
    expect(copies.rows).toEqual([{ plan: 'free' }]);

    expect(await auditRetention()).toBe(3);
    expect(await seqs(short)).toEqual([4]);
    expect(await seqs(forever)).toEqual([1, 2, 3, 4]);
    expect(await seqs(upgraded)).toEqual([1, 2, 3, 4]);
    // The cut's checkpoint (seq 3) is kept: the chain still verifies from it.
    const checkpoints = await euAdmin.query<{ seq: string }>(
      'select seq from audit_checkpoints where organization_id = $1 order by seq',
      [short],
    );
    expect(checkpoints.rows.map((r) => Number(r.seq))).toEqual([3]);
    for (const slug of [shortSlug, foreverSlug, upgradedSlug]) {
      expect(await verify(slug)).toMatchObject({ valid: true });
    }
    // Nothing due any more.
    expect(await auditRetention()).toBe(0);
  });

  it('the hourly scan compares a tenant database chain with the retention of its control database plan', async () => {
    const slug = 'scan-enterprise';
    const org = await placedOn('enterprise', slug);
    await recordAuditEvents(tenancy.withTenant, systemCtx(org), 2);
    await sealAudit(tenancy.withTenant, org);
    const kid = (await testAuditKey()).kid;
    const listed = () => checkpointListing(target, kid)(null, 500);
    expect(await listed()).toContain(org);
    // Signed (stating "forever", the control database's enterprise plan): no longer listed.
    await audit.checkpointOrganization(org);
    const stated = await euAdmin.query<{ retention_days: number | null }>(
      'select retention_days from audit_checkpoints where organization_id = $1',
      [org],
    );
    expect(stated.rows).toEqual([{ retention_days: null }]);
    expect(await listed()).not.toContain(org);
    // The plain scan there compares with the copy's plan (free: 90 days), and would list it every hour.
    expect(await auditChainsToCheckpoint(euWorker, kid, null, 500)).toContain(org);
    // A plan change in the control database lists it again (its head's checkpoint states another one).
    await admin.query(`update organizations set plan = 'free' where id = $1`, [org]);
    expect(await listed()).toContain(org);
  });

  it('the control database lists only the organizations placed in that tenant database', async () => {
    const elsewhere = (await createBareOrganization(tenancy.withTenant, { slug: 'ret-ctl', name: 'c' })).id;
    const placed = await controlWorker.query<{ organization_id: string }>(
      `select organization_id from worker_api.app_retention_audit_placed('eu-1', now(), null, false, 1000)`,
    );
    expect(placed.rows.map((r) => r.organization_id)).not.toContain(elsewhere);
    expect(placed.rows.length).toBeGreaterThanOrEqual(4);
  });

  it("the tenant database purge never cuts by less than the chain's newest checkpoint states, and refuses an organization given twice", async () => {
    await admin.query(`update plans set audit_retention_days = 365 where key = 'pro'`);
    const slug = 'ret-raised';
    // On the free plan (90 days) with a checkpoint 200 days back stating 90, then upgraded to pro (365
    // days) and signed again: the newest checkpoint states 365, the shortest of them 90.
    const org = await placedOn('free', slug);
    await oldHistory(org);
    await admin.query(`update organizations set plan = 'pro' where id = $1`, [org]);
    tenancy.router.invalidate(org);
    await audit.checkpointOrganization(org);
    const stated = await euAdmin.query<{ retention_days: number | null }>(
      'select retention_days from audit_checkpoints where organization_id = $1 and statement_v = 2 order by seq',
      [org],
    );
    expect(stated.rows.map((r) => r.retention_days)).toEqual([90, 365]);
    const given = (orgs: string[], days: number[]) =>
      euWorker.query(
        `select * from worker_api.app_retention_purge_audit_given(now(), null, false, 10000,
           $1::uuid[], $2::integer[])`,
        [orgs, days],
      );
    // A worker caller giving 90 days (the old plan's) for events 200 days old: raised to the 365 stated.
    expect((await given([org], [90])).rows).toEqual([]);
    expect(await seqs(org)).toEqual([1, 2, 3, 4]);
    await expect(given([org, org], [400, 1])).rejects.toThrow(/given twice/);
    expect(await seqs(org)).toEqual([1, 2, 3, 4]);
    expect(await verify(slug)).toMatchObject({ valid: true });
  });
});
