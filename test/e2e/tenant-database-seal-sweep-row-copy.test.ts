import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { recordAuditEvents, systemCtx } from '../support/audit.js';
import { createTenancy, type Tenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import { pino } from 'pino';
import { sealSweepListing } from '../../src/app/compose/tenant-database-sweeps.js';
import { testPool } from '../support/pools.js';

/**
 * The seal sweep run on a tenant database (tenant-database-sweeps.ts) must not delete the pending audit
 * events of an organization without a row copy there: `app_priv_audit_orgs_pending`'s first page deletes
 * those of organizations without a row (deleted ones, on a control database, migration 0066), but a
 * tenant database's row is a copy a placement by hand may not have yet, while the control database says
 * the organization exists and is placed there.
 */
describe('seal sweep on a tenant database: the row copy decides whether pending audit events live', () => {
  let control: ProvisionedDatabase;
  let eu: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let euAdmin: pg.Client;

  beforeAll(async () => {
    [control, eu] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_rv_copy'),
      provisionDatabase(testDb().superuserUrl, 'sr_rv_copy_eu', { tenantDatabase: true }),
    ]);
    tenancy = createTenancy({
      url: control.url,
      poolSize: 2,
      tenantDatabases: { databases: { 'eu-1': { url: eu.url } }, maxConnections: 4 },
    });
    admin = await connect(control.adminUrl);
    euAdmin = await connect(eu.adminUrl);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await euAdmin?.end();
    await tenancy?.close();
    for (const db of [control, eu]) if (db) await dropProvisioned(db);
  });

  it('keeps the pending audit events of an organization the control database places there', async () => {
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'no-copy', name: 'no-copy' })).id;
    await admin.query(
      `update tenant_placements set kind = 'database', database_key = 'eu-1' where organization_id = $1`,
      [org],
    );
    tenancy.router.invalidate(org);
    // Placed by hand, the row's copy not (yet) written: the audited writes still commit their events.
    await recordAuditEvents(tenancy.withTenant, systemCtx(org), 2);
    const pending = async () =>
      (
        await euAdmin.query<{ n: number }>(
          'select count(*)::int as n from audit_pending where organization_id = $1',
          [org],
        )
      ).rows[0]!.n;
    expect(await pending()).toBe(2);
    const worker = testPool({ connectionString: eu.workerUrl, max: 1 });
    try {
      // One seal sweep's first page there.
      // (`control` is not asked by the seal sweep's listing.)
      await sealSweepListing({
        pool: worker,
        log: pino({ level: 'silent' }),
        database: 'eu-1',
        control: worker,
      })(null, 500);
    } finally {
      await worker.end();
    }
    expect(await pending()).toBe(2);
  });
});
