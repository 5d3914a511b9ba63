import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placeInPooled, placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { uuidv7 } from '../ids.js';
import { tenantSchemaName } from './placed-tables.js';
import { createTenancy, type Tenancy } from './tenancy.js';

/**
 * A `schema` placement through `withTenant`: the organization's reads and writes land in its schema of
 * the control database (public holds none of its rows), RLS still holds there (another tenant, or none,
 * sees nothing), the check constraint refuses another organization's row, and connections go back to
 * the pool with neither the tenant nor the search path. On its own database: a placement schema would
 * be a schema the runtime role can reach in the suite's shared one.
 */
describe('schema placement: routing', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let placed: string; // in its own schema
  let pooled: string; // in public
  let schema: string;

  const newOrg = async (prefix: string) =>
    (
      await createBareOrganization(tenancy.withTenant, {
        slug: `${prefix}-${randomBytes(5).toString('hex')}`,
        name: prefix,
      })
    ).id;
  const addProject = (org: string, name: string) =>
    tenancy.withTenant(org, (t) =>
      t
        .insertInto('projects')
        .values({ organization_id: org, id: uuidv7(), name })
        .returning('id')
        .executeTakeFirstOrThrow(),
    );
  const projectNames = (org: string, mode: 'read' | 'write' = 'read') =>
    tenancy.withTenant(
      org,
      async (t) =>
        (await t.selectFrom('projects').select('name').orderBy('name').execute()).map((r) => r.name),
      { mode },
    );
  const countIn = async (nsp: string, org: string) =>
    (
      await admin.query<{ n: number }>(
        `select count(*)::int as n from "${nsp}".projects where organization_id = $1`,
        [org],
      )
    ).rows[0]!.n;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_place');
    // One connection: every scope below shares it, so pooled and schema scopes alternate on it.
    tenancy = createTenancy({ url: db.url, poolSize: 1 });
    admin = await connect(db.adminUrl);
    placed = await newOrg('placed');
    pooled = await newOrg('pooled');
    schema = tenantSchemaName(placed);
    await addProject(placed, 'before-move');
    await addProject(pooled, 'pooled-1');
    await projectNames(placed); // cached as pooled: the caller must invalidate after the move
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, placed);
    tenancy.router.invalidate(placed);
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it('moves the rows: the schema holds the organization, public none of it', async () => {
    expect(await countIn(schema, placed)).toBe(1);
    expect(await countIn('public', placed)).toBe(0);
    const rec = await admin.query<{ kind: string; state: string; schema_version: string }>(
      'select kind, state, schema_version from tenant_placements where organization_id = $1',
      [placed],
    );
    expect(rec.rows[0]).toMatchObject({ kind: 'schema', state: 'active' });
    expect(rec.rows[0]!.schema_version).toMatch(/^\d{4}-/);
  });

  it("reads and writes of a schema organization land in its schema; a pooled one's in public", async () => {
    expect(await projectNames(placed)).toEqual(['before-move']);
    await addProject(placed, 'after-move');
    expect(await projectNames(placed, 'write')).toEqual(['after-move', 'before-move']);
    expect(await countIn(schema, placed)).toBe(2);
    expect(await countIn('public', placed)).toBe(0);
    await addProject(pooled, 'pooled-2');
    expect(await projectNames(pooled)).toEqual(['pooled-1', 'pooled-2']);
    expect(await countIn('public', pooled)).toBe(2);
    expect(await countIn(schema, pooled)).toBe(0);
  });

  it('one connection alternating between a pooled and a schema organization (same statements) returns each its own rows', async () => {
    for (let i = 0; i < 6; i++) {
      for (const mode of ['read', 'write'] as const) {
        expect(await projectNames(placed, mode)).toEqual(['after-move', 'before-move']);
        expect(await projectNames(pooled, mode)).toEqual(['pooled-1', 'pooled-2']);
      }
    }
  });

  it('goes back to the pool with the default search path and no tenant', async () => {
    await projectNames(placed);
    await projectNames(placed, 'write');
    const c = await tenancy.control.pool.connect();
    try {
      const r = await c.query<{ path: string; t: string | null; n: number }>(
        `select current_setting('search_path') as path, app_current_tenant()::text as t,
                (select count(*)::int from projects) as n`,
      );
      expect(r.rows[0]).toEqual({ path: '"$user", public', t: null, n: 0 });
    } finally {
      c.release();
    }
  });

  it('RLS holds in the schema: another tenant, or none, sees and writes nothing there', async () => {
    const c = await connect(db.url);
    try {
      const path = `"${schema}", public`;
      await c.query('begin');
      await c.query(`select set_config('app.tenant_id', $1, true), set_config('search_path', $2, true)`, [
        pooled,
        path,
      ]);
      expect((await c.query('select name from projects')).rows).toEqual([]);
      await expect(
        c.query(`insert into projects (organization_id, id, name) values ($1, $2, 'x')`, [placed, uuidv7()]),
      ).rejects.toThrow(/row-level security/);
      await c.query('rollback');
      // No tenant at all: fail closed.
      await c.query('begin');
      await c.query(`select set_config('search_path', $1, true)`, [path]);
      expect((await c.query('select name from projects')).rows).toEqual([]);
      await expect(
        c.query(`insert into projects (organization_id, id, name) values ($1, $2, 'x')`, [placed, uuidv7()]),
      ).rejects.toThrow(/row-level security/);
      await c.query('rollback');
    } finally {
      await c.end();
    }
  });

  it("the schema's check constraint refuses another organization's row, even from a superuser", async () => {
    await expect(
      admin.query(`insert into "${schema}".projects (organization_id, id, name) values ($1, $2, 'x')`, [
        pooled,
        uuidv7(),
      ]),
    ).rejects.toThrow(/placement_organization_check/);
  });

  it('placeInPooled brings the rows back and drops the schema', async () => {
    await placeInPooled(db.adminUrl, db.migrationUrl, placed);
    tenancy.router.invalidate(placed);
    expect(await projectNames(placed)).toEqual(['after-move', 'before-move']);
    expect(await countIn('public', placed)).toBe(2);
    const s = await admin.query('select 1 from pg_namespace where nspname = $1', [schema]);
    expect(s.rowCount).toBe(0);
    // And back again, for whatever runs after.
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, placed);
    tenancy.router.invalidate(placed);
    expect(await projectNames(placed)).toEqual(['after-move', 'before-move']);
    expect(await countIn('public', placed)).toBe(0);
  });

  it('a sql`` query in a schema scope sees the schema as its search path', async () => {
    const p = await tenancy.withTenant(
      placed,
      async (t) =>
        (await sql<{ p: string }>`select current_setting('search_path') as p`.execute(t)).rows[0]!.p,
    );
    expect(p).toBe(`"${schema}", public`);
  });
});
