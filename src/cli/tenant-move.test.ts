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

/** `npx saasready tenant move`: there and back by slug, each step printed, the status, the refusals; into
 *  a tenant database (`t1`, configured with its ownerUrl) and out of it again.
 *  On a database of its own: a placement schema is a schema the runtime role can reach. */
describe('npx saasready tenant move', () => {
  let db: ProvisionedDatabase;
  let t1: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    [db, t1] = await Promise.all([
      provisionDatabase(testDb().superuserUrl, 'sr_mvcli'),
      provisionDatabase(testDb().superuserUrl, 'sr_mvcli_t1', { tenantDatabase: true }),
    ]);
    tenancy = createTenancy({ url: db.url, poolSize: 2 });
    admin = await connect(db.adminUrl);
    env = {
      DATABASE_URL: db.url,
      MIGRATION_DATABASE_URL: db.migrationUrl,
      WORKER_DATABASE_URL: db.workerUrl,
      KEY_VAULT_DATABASE_URL: db.keyVaultUrl,
      DEFINER_ROLE: db.roles.definer,
      PLACEMENT_CACHE_TTL_MS: '100',
      TENANT_DATABASES: JSON.stringify({
        t1: { url: t1.url, ownerUrl: t1.migrationUrl, workerUrl: t1.workerUrl },
      }),
    };
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
    if (t1) await dropProvisioned(t1);
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
  it('moves an organization into a tenant database and out of it, printing where each move comes from; refuses the database it is in and one not configured', async () => {
    const slug = `clidb-${randomBytes(4).toString('hex')}`;
    const { id } = await createBareOrganization(tenancy.withTenant, { slug, name: 'cli db' });
    const placement = async () =>
      (
        await admin.query<{ kind: string; database_key: string | null }>(
          'select kind, database_key from tenant_placements where organization_id = $1',
          [id],
        )
      ).rows[0];

    const into = await runCli(['tenant', 'move', slug, '--to', 'database:t1'], env);
    expect(into.code, into.out).toBe(0);
    expect(into.out).toMatch(/pooled -> database:t1, step done/);
    expect(await placement()).toEqual({ kind: 'database', database_key: 't1' });
    const same = await runCli(['tenant', 'move', slug, '--to', 'database:t1'], env);
    expect(same.code).toBe(1);
    expect(same.out).toContain('is already in database t1');

    // Out of it, into its own schema: the move prints the tenant database it leaves.
    const out = await runCli(['tenant', 'move', slug, '--to', 'schema'], env);
    expect(out.code, out.out).toBe(0);
    expect(out.out).toMatch(/database:t1 -> schema, step done/);
    expect(await placement()).toEqual({ kind: 'schema', database_key: null });
    const status = await runCli(['tenant', 'move', id, '--status'], env);
    expect(status.out).toMatch(/database:t1 -> schema, step done/);
    const back = await runCli(['tenant', 'move', slug, '--to', 'pooled'], env);
    expect(back.code, back.out).toBe(0);
    expect(back.out).toMatch(/schema -> pooled, step done/);

    // Placed (by hand) in a tenant database this environment does not configure: its move out is refused.
    const stranded = await createBareOrganization(tenancy.withTenant, {
      slug: `${slug}-gone`,
      name: 'cli gone',
    });
    await admin.query(
      `insert into tenant_placements (organization_id, kind, database_key, state)
         values ($1, 'database', 'gone', 'active')
       on conflict (organization_id) do update set kind = 'database', database_key = 'gone', state = 'active'`,
      [stranded.id],
    );
    const refused = await runCli(['tenant', 'move', stranded.id, '--to', 'pooled'], env);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(
      "tenant database gone (the organization's) is not configured here with an ownerUrl",
    );
    const aborted = await runCli(['tenant', 'move', stranded.id, '--status'], env);
    expect(aborted.out).toMatch(/database:gone -> pooled, step aborted/);
  }, 240_000);
});
