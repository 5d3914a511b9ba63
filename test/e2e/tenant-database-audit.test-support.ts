/**
 * The fixture of the tests of audit retention in a tenant database (imported by tests only): a control
 * database and a tenant database `eu-1` of the file's own, a tenancy over them, an audit service, both
 * databases' superusers and worker pools; everything closed and dropped after the file. Organizations are
 * created in the control database and placed in `eu-1` by hand (`placedOn`).
 */
import { afterAll, beforeAll } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { recordAuditEvents, recordBackdatedAuditEvents, sealAudit, systemCtx } from '../support/audit.js';
import { testAuditKey, testAuditService } from '../support/app.js';
import { testPool } from '../support/pools.js';
import { tenantDatabasesOption } from './helpers.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import type { AuditService } from '../../src/modules/audit/audit.service.js';
import { verifyOrganizationBySlug } from '../../src/cli/audit-verify.js';

export interface AuditRetentionFixture {
  readonly tenancy: Tenancy;
  readonly audit: AuditService;
  /** The control database's superuser. */
  readonly admin: pg.Client;
  /** `eu-1`'s superuser. */
  readonly euAdmin: pg.Client;
  /** The worker role's pools of the control database and of `eu-1` (one connection each). */
  readonly controlWorker: pg.Pool;
  readonly euWorker: pg.Pool;
  /** An organization created in the control database on `plan` there, placed in `eu-1` by hand (its row
   *  copied there on the default plan). */
  readonly placedOn: (plan: string, slug: string) => Promise<string>;
  /** 3 events and a checkpoint 200 days back (past the free plan's 90 days), then 1 event now. */
  readonly oldHistory: (org: string) => Promise<void>;
  /** The organization's audit event seqs in `eu-1`, in order. */
  readonly seqs: (org: string) => Promise<number[]>;
  /** The chain of the organization `slug` verified as `npx saasready audit verify --org` does. */
  readonly verify: (slug: string) => ReturnType<typeof verifyOrganizationBySlug>;
}

/** Registers the file's beforeAll/afterAll (databases `<name>` and `<name>_eu`); the fixture's fields are
 *  there once beforeAll has run. */
export function useAuditRetentionFixture(name: string): AuditRetentionFixture {
  let control: ProvisionedDatabase | undefined;
  let eu: ProvisionedDatabase | undefined;
  let tenancy: Tenancy | undefined;
  let audit: AuditService | undefined;
  let admin: pg.Client | undefined;
  let euAdmin: pg.Client | undefined;
  let controlWorker: pg.Pool | undefined;
  let euWorker: pg.Pool | undefined;
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the audit retention fixture is used before its beforeAll ran');
    return v;
  };
  const databases = () =>
    tenantDatabasesOption(
      { 'eu-1': { url: ready(eu).url, workerUrl: ready(eu).workerUrl } },
      { maxConnections: 4, poolSize: 2 },
    );

  beforeAll(async () => {
    [control, eu] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, name),
      provisionDatabase(testDb().superuserUrl, `${name}_eu`, { tenantDatabase: true }),
    ]);
    tenancy = createTenancy({
      url: control.url,
      poolSize: 2,
      tenantDatabases: { databases: { 'eu-1': { url: eu.url } }, maxConnections: 4 },
    });
    audit = await testAuditService(tenancy.withTenant);
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

  const fixture: AuditRetentionFixture = {
    get tenancy() {
      return ready(tenancy);
    },
    get audit() {
      return ready(audit);
    },
    get admin() {
      return ready(admin);
    },
    get euAdmin() {
      return ready(euAdmin);
    },
    get controlWorker() {
      return ready(controlWorker);
    },
    get euWorker() {
      return ready(euWorker);
    },
    async placedOn(plan, slug) {
      const t = fixture.tenancy;
      const org = (await createBareOrganization(t.withTenant, { slug, name: slug })).id;
      await fixture.admin.query(
        `update tenant_placements set kind = 'database', database_key = 'eu-1' where organization_id = $1`,
        [org],
      );
      await fixture.admin.query('update organizations set plan = $2 where id = $1', [org, plan]);
      t.router.invalidate(org);
      await fixture.euAdmin.query('insert into organizations (id, slug, name) values ($1, $2, $3)', [
        org,
        slug,
        slug,
      ]);
      return org;
    },
    async oldHistory(org) {
      const t = fixture.tenancy;
      await recordBackdatedAuditEvents(t.withTenant, fixture.audit, org, 3, 200, true);
      await recordAuditEvents(t.withTenant, systemCtx(org), 1);
      await sealAudit(t.withTenant, org);
    },
    async seqs(org) {
      return (
        await fixture.euAdmin.query<{ seq: string }>(
          'select seq from audit_events where organization_id = $1 order by seq',
          [org],
        )
      ).rows.map((r) => Number(r.seq));
    },
    async verify(slug) {
      const pool = testPool({ connectionString: ready(control).url, max: 2 });
      try {
        return await verifyOrganizationBySlug(pool, await testAuditKey(), slug, [], databases());
      } finally {
        await pool.end();
      }
    },
  };
  return fixture;
}
