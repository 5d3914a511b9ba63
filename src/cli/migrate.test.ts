import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../test/support/provision.js';
import { placeInSchema } from '../../test/support/placements.js';
import { connect, testDb } from '../../test/support/tenancy.js';
import { buildTestApp } from '../../test/support/app.js';
import { runCli } from '../../test/support/cli.js';
import { createBareOrganization } from '../modules/organizations/organization-records.js';
import { knownMigrations, latestMigration } from '../platform/db/migrate.js';
import { migrationStatus } from '../platform/db/migration-status.js';
import { prepareDatabase } from '../platform/db/prepare.js';
import { loadConfig } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { tenantSchemaName } from '../platform/tenancy/placed-tables.js';
import { syncPlacementSchema } from '../platform/tenancy/placement-schema.js';
import { createTenancy, type Tenancy } from '../platform/tenancy/tenancy.js';
import { migrateEverything, statusReport } from './migrate.js';

/**
 * `npx saasready migrate` and `migrate status` across two schema placements and a pooled organization,
 * after `public` gained a column (a new migration, simulated: the column added to public and the
 * placements' recorded version set back one migration), and `/readyz` meanwhile. On a database of its
 * own: the test changes public's tables.
 */
describe('migrations across schema placements', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let owner: pg.Pool;
  let a: { id: string; slug: string; schema: string };
  let b: { id: string; slug: string; schema: string };
  const latest = latestMigration();
  const previous = knownMigrations().at(-2)!;

  const newOrg = async (prefix: string) => {
    const slug = `${prefix}-${randomBytes(4).toString('hex')}`;
    const { id } = await createBareOrganization(tenancy.withTenant, { slug, name: prefix });
    return { id, slug, schema: tenantSchemaName(id) };
  };
  const status = async () => statusReport(await migrationStatus(owner, []));
  const migrate = async () => {
    let out = '';
    const code = await migrateEverything({
      ownerUrl: db.migrationUrl,
      owner,
      roles: db.roles,
      databases: [],
      sync: syncPlacementSchema,
      write: (text) => (out += text),
    });
    return { code, out };
  };
  const hasColumn = async (schema: string, column: string) =>
    (
      await admin.query(
        `select 1 from information_schema.columns
          where table_schema = $1 and table_name = 'projects' and column_name = $2`,
        [schema, column],
      )
    ).rowCount === 1;
  /** A new migration, simulated: public's projects gains a column, every schema placement is behind. */
  const newMigration = async (column: string) => {
    await owner.query(`alter table public.projects add column ${column} text`);
    await admin.query(`update tenant_placements set schema_version = $1 where kind = 'schema'`, [previous]);
  };

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_plmig');
    tenancy = createTenancy({ url: db.url, poolSize: 2 });
    admin = await connect(db.adminUrl);
    owner = new pg.Pool({ connectionString: db.migrationUrl, max: 2 });
    a = await newOrg('pm-a');
    b = await newOrg('pm-b');
    await newOrg('pm-pooled');
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, a.id);
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, b.id);
  }, 120_000);
  afterAll(async () => {
    await owner.end();
    await admin.end();
    await tenancy.close();
    await dropProvisioned(db);
  });

  it('status says current, then behind after a migration; /readyz reports the placements behind', async () => {
    const before = await status();
    expect(before.code).toBe(0);
    expect(before.text).toBe(
      `code: ${latest}\ncontrol database: ${latest} current\n` +
        `placement ${a.schema} (org ${a.slug}): ${latest} current\n` +
        `placement ${b.schema} (org ${b.slug}): ${latest} current\n` +
        '2 placements, 0 behind\n',
    );

    await newMigration('extra');
    const after = await status();
    expect(after.code).toBe(2);
    expect(after.text).toContain(`placement ${a.schema} (org ${a.slug}): ${previous} behind\n`);
    expect(after.text).toContain(`placement ${b.schema} (org ${b.slug}): ${previous} behind\n`);
    expect(after.text).toContain('2 placements, 2 behind\nrun `npx saasready migrate`');

    const app = await buildTestApp({ database: db });
    try {
      const ready = await app.app.inject('/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({
        status: 'not_ready',
        checks: { database: true, migrations: false },
        behind: [
          {
            placement: 'schema',
            count: 2,
            reason: `2 schema placements are not synchronized to ${latest}: run \`npx saasready migrate\` (the server log names them)`,
          },
        ],
      });
      // Nothing of an organization: the probe is public.
      expect(ready.body).not.toContain(a.id.replace(/-/g, ''));
    } finally {
      await app.app.close();
      await app.close();
    }
  }, 120_000);

  it('a failing placement leaves the other done and the run non-zero; a re-run finishes it', async () => {
    // B's sync fails: its projects table belongs to someone else, so the owner role cannot alter it.
    const superuser = decodeURIComponent(new URL(db.adminUrl).username);
    await admin.query(`alter table ${b.schema}.projects owner to ${superuser}`);
    const first = await migrate();
    expect(first.code).toBe(1);
    const lines = first.out.trimEnd().split('\n');
    expect(lines[0]).toBe(`control database: nothing to apply, now at ${latest}`);
    expect(lines[1]).toMatch(
      new RegExp(`^placement ${a.schema} \\(org ${a.slug}\\): [1-9]\\d* changes?, now at ${latest}$`),
    );
    expect(lines[2]).toBe(
      `placement ${b.schema} (org ${b.slug}): FAILED: must be owner of table projects (stays at ${previous})`,
    );
    expect(lines[3]).toBe(
      'schema placements: 1 synchronized, 1 failed, 0 already current; tenant databases: 0 migrated, 0 failed',
    );
    expect(lines[4]).toMatch(/^some placements are behind: .* run `npx saasready migrate` again$/);
    expect(await hasColumn(a.schema, 'extra')).toBe(true);
    expect(await hasColumn(b.schema, 'extra')).toBe(false);
    const between = await status();
    expect(between.code).toBe(2);
    expect(between.text).toContain(`placement ${a.schema} (org ${a.slug}): ${latest} current\n`);
    expect(between.text).toContain(`placement ${b.schema} (org ${b.slug}): ${previous} behind\n`);

    await admin.query(`alter table ${b.schema}.projects owner to ${db.roles.owner}`);
    const second = await migrate();
    expect(second.code).toBe(0);
    expect(second.out).not.toContain(a.schema); // done, not redone
    expect(second.out).toMatch(
      new RegExp(`placement ${b.schema} \\(org ${b.slug}\\): [1-9]\\d* changes?, now at ${latest}\n`),
    );
    expect(second.out).toContain('schema placements: 1 synchronized, 0 failed, 1 already current;');
    expect(await hasColumn(b.schema, 'extra')).toBe(true);
    expect((await status()).code).toBe(0);
    // The organization's data path works on the new shape.
    const rows = await tenancy.withTenant(b.id, (t) =>
      t.selectFrom('projects').select('organization_id').where('organization_id', '=', b.id).execute(),
    );
    expect(rows).toEqual([]);

    const app = await buildTestApp({ database: db });
    try {
      const ready = await app.app.inject('/readyz');
      expect(ready.json()).toEqual({ status: 'ready', checks: { database: true, migrations: true } });
    } finally {
      await app.app.close();
      await app.close();
    }
  }, 120_000);

  it('at start, the control database is migrated and the schema placements behind are synchronized', async () => {
    await newMigration('extra_at_start');
    const config = loadConfig({
      DATABASE_URL: db.url,
      MIGRATION_DATABASE_URL: db.migrationUrl,
      WORKER_DATABASE_URL: db.workerUrl,
      KEY_VAULT_DATABASE_URL: db.keyVaultUrl,
    });
    const definer = process.env.DEFINER_ROLE;
    process.env.DEFINER_ROLE = db.roles.definer;
    try {
      const prepared = await prepareDatabase(config, createLogger({ level: 'silent' }));
      await prepared.stop();
    } finally {
      if (definer === undefined) delete process.env.DEFINER_ROLE;
      else process.env.DEFINER_ROLE = definer;
    }
    expect(await hasColumn(a.schema, 'extra_at_start')).toBe(true);
    expect(await hasColumn(b.schema, 'extra_at_start')).toBe(true);
    expect((await status()).code).toBe(0);
  }, 120_000);

  it('npx saasready migrate status / migrate: exit 2 while behind, 0 once migrated; a tenant database has its line', async () => {
    const env = {
      DATABASE_URL: db.url,
      MIGRATION_DATABASE_URL: db.migrationUrl,
      WORKER_DATABASE_URL: db.workerUrl,
      KEY_VAULT_DATABASE_URL: db.keyVaultUrl,
      DEFINER_ROLE: db.roles.definer,
      // The control database itself stands in for a dedicated one: same migrations, nothing to apply.
      TENANT_DATABASES: JSON.stringify({ eu1: { url: db.url, ownerUrl: db.migrationUrl } }),
    };
    const current = await runCli(['migrate', 'status'], env);
    expect(current.code).toBe(0);
    expect(current.out).toContain(`database eu1 (0 organizations): ${latest} current\n`);
    expect(current.out).toContain('3 placements, 0 behind\n');

    await newMigration('extra_cli');
    const behind = await runCli(['migrate', 'status'], env);
    expect(behind.code).toBe(2);
    expect(behind.out).toContain(`placement ${a.schema} (org ${a.slug}): ${previous} behind\n`);
    expect(behind.out).toContain('3 placements, 2 behind\n');

    const migrated = await runCli(['migrate'], env);
    expect(migrated.out).toContain(`placement ${a.schema} (org ${a.slug}): 1 change, now at ${latest}\n`);
    expect(migrated.out).toContain(`placement ${b.schema} (org ${b.slug}): 1 change, now at ${latest}\n`);
    expect(migrated.out).toContain(`database eu1: nothing to apply, now at ${latest}\n`);
    expect(migrated.code).toBe(0);
    expect((await runCli(['migrate', 'status'], env)).code).toBe(0);
    expect((await runCli(['migrate', 'nope'], env)).code).toBe(1);
  }, 120_000);

  it('migrate status with an embedded database never started: says so, migrates nothing', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-status-'));
    try {
      const none = { DATABASE_URL: '', MIGRATION_DATABASE_URL: '', WORKER_DATABASE_URL: '', DATA_DIR: dir };
      const res = await runCli(['migrate', 'status'], none);
      expect(res.code).toBe(1);
      expect(res.out).toContain(`no embedded database in ${dir} yet: nothing is migrated`);
      expect(await fs.readdir(dir)).toEqual([]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
