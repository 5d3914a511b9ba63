import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../test/support/provision.js';
import { connect, testDb } from '../../test/support/tenancy.js';
import { runCli } from '../../test/support/cli.js';
import { createBareOrganization } from '../modules/organizations/organization-records.js';
import { tenantSchemaName } from '../platform/tenancy/placed-tables.js';
import { createTenancy, type Tenancy } from '../platform/tenancy/tenancy.js';

/** `npx saasready tenant move`: there and back by slug, each step printed, the status, the refusals.
 *  On a database of its own: a placement schema is a schema the runtime role can reach. */
describe('npx saasready tenant move', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_mvcli');
    tenancy = createTenancy({ url: db.url, poolSize: 2 });
    admin = await connect(db.adminUrl);
    env = {
      DATABASE_URL: db.url,
      MIGRATION_DATABASE_URL: db.migrationUrl,
      WORKER_DATABASE_URL: db.workerUrl,
      KEY_VAULT_DATABASE_URL: db.keyVaultUrl,
      DEFINER_ROLE: db.roles.definer,
      PLACEMENT_CACHE_TTL_MS: '100',
    };
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it('moves an organization to its schema and back, printing each step and the freeze; refuses other targets', async () => {
    const slug = `cli-${randomBytes(4).toString('hex')}`;
    const { id } = await createBareOrganization(tenancy.withTenant, { slug, name: 'cli' });

    const none = await runCli(['tenant', 'move', slug, '--status'], env);
    expect(none.code).toBe(0);
    expect(none.out).toContain(`organization ${id}: no placement move`);

    // A tenant database this environment does not configure (with an ownerUrl), a region it does not
    // name, and a target that is none: refused before anything is recorded.
    const refused = await runCli(['tenant', 'move', slug, '--to', 'database:eu1'], env);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('tenant database eu1 is not configured here with an ownerUrl');
    const noRegion = await runCli(['tenant', 'move', slug, '--to', 'region:mars'], env);
    expect(noRegion.code).toBe(1);
    expect(noRegion.out).toContain('region mars is not configured here (REGIONS)');
    const nowhere = await runCli(['tenant', 'move', slug, '--to', 'elsewhere'], env);
    expect(nowhere.code).toBe(1);
    expect(nowhere.out).toContain('moves go to pooled, schema, database:<key> or region:<name>');

    const there = await runCli(['tenant', 'move', slug, '--to', 'schema'], env);
    expect(there.code, there.out).toBe(0);
    for (const step of ['preparing', 'copying', 'switching', 'cleaning']) {
      expect(there.out).toContain(`pooled -> schema, step ${step}`);
    }
    expect(there.out).toMatch(/pooled -> schema, step done, .*freeze \d+ ms/);
    const placed = await admin.query('select kind, state from tenant_placements where organization_id = $1', [
      id,
    ]);
    expect(placed.rows[0]).toEqual({ kind: 'schema', state: 'active' });

    const status = await runCli(['tenant', 'move', id, '--status'], env);
    expect(status.out).toMatch(/pooled -> schema, step done/);

    const back = await runCli(['tenant', 'move', slug, '--to', 'pooled'], env);
    expect(back.code, back.out).toBe(0);
    expect(back.out).toMatch(/schema -> pooled, step done/);
    const schema = await admin.query('select 1 from pg_namespace where nspname = $1', [tenantSchemaName(id)]);
    expect(schema.rowCount).toBe(0);
  }, 120_000);
});
