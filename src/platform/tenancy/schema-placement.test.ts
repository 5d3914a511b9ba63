import { withoutExplicitFilterCheck } from './explicit-filters.js';
import type pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { viaPgBouncer } from '../../../test/support/pgbouncer.js';
import {
  addPlacementProject,
  newPlacementOrg,
  placeInPooled,
  placeInSchema,
} from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { uuidv7 } from '../ids.js';
import { tenantSchemaName } from './placed-tables.js';
import { syncPlacementSchema } from './placement-schema.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import { isDatabaseUnavailable } from '../db/pg-errors.js';

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

  const newOrg = (prefix: string) => newPlacementOrg(tenancy, prefix);
  const addProject = (org: string, name: string) => addPlacementProject(tenancy, org, name);
  // No explicit filter on purpose: the search path alone must route the read to the organization's rows.
  const projectNames = (org: string, mode: 'read' | 'write' = 'read') =>
    withoutExplicitFilterCheck('rlsBackstop', () =>
      tenancy.withTenant(
        org,
        async (t) =>
          (await t.selectFrom('projects').select('name').orderBy('name').execute()).map((r) => r.name),
        { mode },
      ),
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
    // A partitioned table's row and an append-only one's move too.
    await admin.query(
      `insert into usage_events (organization_id, id, meter, occurred_at) values ($1, 'e1', 'api_requests', now())`,
      [placed],
    );
    await admin.query(
      `insert into audit_events (organization_id, seq, id, occurred_at, actor_type, action, target_type, prev_hash, hash)
       values ($1, 1, gen_random_uuid(), now(), 'system', 'test.seeded', 't', sha256('a'), sha256('b'))`,
      [placed],
    );
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
    for (const table of ['usage_events', 'audit_events']) {
      const n = await admin.query<{ s: number; p: number }>(
        `select (select count(*)::int from "${schema}".${table}) as s,
                (select count(*)::int from public.${table} where organization_id = $1) as p`,
        [placed],
      );
      expect({ table, ...n.rows[0] }).toEqual({ table, s: 1, p: 0 });
    }
    const events = await tenancy.withTenant(
      placed,
      async (t) =>
        (await sql<{ id: string }>`select id from usage_events where organization_id = ${placed}`.execute(t))
          .rows,
      { mode: 'read' },
    );
    expect(events).toEqual([{ id: 'e1' }]);
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

  it('routes a schema organization to one handle on the control pool, kept across lookups; a pooled one to control', async () => {
    const target = await tenancy.router.resolve(placed);
    expect(target).not.toBe(tenancy.control);
    expect(target.pool).toBe(tenancy.control.pool);
    expect(target.key).toBe(`schema:${schema}`);
    tenancy.router.invalidate(placed);
    expect(await tenancy.router.resolve(placed)).toBe(target);
    expect(tenancy.router.cached(placed)).toBe(target);
    expect(await tenancy.router.resolve(pooled)).toBe(tenancy.control);
  });

  it('a read scope of a schema organization is read-only', async () => {
    await expect(
      tenancy.withTenant(
        placed,
        (t) =>
          t.insertInto('projects').values({ organization_id: placed, id: uuidv7(), name: 'ro' }).execute(),
        { mode: 'read' },
      ),
    ).rejects.toThrow(/read-only transaction/);
  });

  it('one connection alternating between a pooled and a schema organization (same statements) returns each its own rows', async () => {
    for (let i = 0; i < 6; i++) {
      for (const mode of ['read', 'write'] as const) {
        expect(await projectNames(placed, mode)).toEqual(['after-move', 'before-move']);
        expect(await projectNames(pooled, mode)).toEqual(['pooled-1', 'pooled-2']);
      }
    }
  });

  // Through a transaction-pooling PgBouncer (DB_STATEMENT_CACHE=off) nothing is prepared by name to count.
  it.skipIf(viaPgBouncer)(
    'a statement run by pooled and schema tenants has a prepared statement per search path (no re-planning)',
    async () => {
      await projectNames(placed);
      await projectNames(pooled);
      const c = await tenancy.control.pool.connect();
      try {
        // The one connection's prepared statements for the projects read: one pooled, one for the schema.
        const r = await c.query<{ name: string }>(
          `select name from pg_prepared_statements
          where statement like '%from "projects"%' and statement like '%order by "name"%' order by name`,
        );
        const names = r.rows.map((row) => row.name);
        expect(names.filter((n) => n.startsWith('sr_q'))).toHaveLength(1);
        expect(names.filter((n) => n.startsWith('sr_s'))).toHaveLength(1);
      } finally {
        c.release();
      }
    },
  );

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

  it('refuses (PLACEMENT_BEHIND, a 503) a schema organization whose schema is not synchronized to the latest migration', async () => {
    const set = (v: string | null) =>
      admin.query('update tenant_placements set schema_version = $2 where organization_id = $1', [placed, v]);
    const latest = (
      await admin.query<{ v: string }>(
        'select schema_version as v from tenant_placements where organization_id = $1',
        [placed],
      )
    ).rows[0]!.v;
    try {
      await set('0001-tenancy-core');
      tenancy.router.invalidate(placed);
      await expect(projectNames(placed)).rejects.toMatchObject({ code: 'PLACEMENT_BEHIND' });
      await set(null);
      tenancy.router.invalidate(placed);
      await expect(projectNames(placed)).rejects.toMatchObject({ code: 'PLACEMENT_BEHIND' });
    } finally {
      await set(latest);
      tenancy.router.invalidate(placed);
    }
    expect(await projectNames(placed)).toContain('before-move');
  });

  it('refuses (PLACEMENT_MISSING, a 503) a schema organization whose schema does not exist, instead of resolving its tables to public', async () => {
    await admin.query(`alter schema "${schema}" rename to "${schema}_away"`);
    try {
      tenancy.router.invalidate(placed);
      await expect(projectNames(placed)).rejects.toMatchObject({ code: 'PLACEMENT_MISSING' });
      expect(isDatabaseUnavailable(await projectNames(placed).catch((e: unknown) => e))).toBe(true);
    } finally {
      await admin.query(`alter schema "${schema}_away" rename to "${schema}"`);
      tenancy.router.invalidate(placed);
    }
    expect(await projectNames(placed)).toContain('before-move');
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

  it("a read scope's builder read names the schema's tables itself and runs without the search path", async () => {
    // pg_settings is not one of the schema's tables: the read is run as it is, with the tenant's prelude
    // alone, and shows the search path it ran under (a write scope's keeps setting it).
    const path = (mode: 'read' | 'write') =>
      withoutExplicitFilterCheck('rlsBackstop', () =>
        tenancy.withTenant(
          placed,
          async (t) =>
            (
              await (t as unknown as Kysely<Record<string, { name: string; setting: string }>>)
                .selectFrom('pg_catalog.pg_settings')
                .select('setting')
                .where('name', '=', 'search_path')
                .executeTakeFirstOrThrow()
            ).setting,
          { mode },
        ),
      );
    expect(await path('read')).toBe('"$user", public');
    expect(await path('write')).toBe(`"${schema}", public`);
    // A row of the organization in public (only a superuser can put it there) is not what it reads: the
    // qualified read reads the schema's table, as the search path would.
    const decoy = uuidv7();
    await admin.query(`insert into public.projects (organization_id, id, name) values ($1, $2, 'decoy')`, [
      placed,
      decoy,
    ]);
    try {
      expect(await projectNames(placed, 'read')).toEqual(['after-move', 'before-move']);
      expect(await projectNames(placed, 'write')).toEqual(['after-move', 'before-move']);
    } finally {
      await admin.query('delete from public.projects where id = $1', [decoy]);
    }
  });

  it('a qualified read whose schema was dropped meanwhile is run again under the search path', async () => {
    // A placement this process still routes to a schema that is gone (say another instance moved the
    // organization back and dropped it): the read falls back to the search path form, which resolves the
    // tables to public, instead of failing.
    const gone = await newOrg('gone');
    await addProject(gone, 'in-schema');
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, gone);
    tenancy.router.invalidate(gone);
    expect(await projectNames(gone)).toEqual(['in-schema']);
    await admin.query(`drop schema "${tenantSchemaName(gone)}" cascade`);
    await admin.query(
      `insert into public.projects (organization_id, id, name) values ($1, $2, 'in-public')`,
      [gone, uuidv7()],
    );
    try {
      expect(await projectNames(gone)).toEqual(['in-public']);
    } finally {
      await admin.query('delete from tenant_placements where organization_id = $1', [gone]);
      tenancy.router.invalidate(gone);
    }
  });

  // Last: it changes the shape of projects (and puts it back).
  it("a schema organization's read is re-sent under its own statement after a migration changed the table, even with the pooled statement of the same text on the connection", async () => {
    const read = (org: string) =>
      tenancy.withTenant(
        org,
        async (t) =>
          (
            await sql<{
              name: string;
            }>`select * from projects where organization_id = ${org} order by name`.execute(t)
          ).rows,
        { mode: 'read' },
      );
    // Both statements of the text prepared on the one connection: the pooled one and the schema's.
    await read(pooled);
    await read(placed);
    const owner = await connect(db.migrationUrl);
    try {
      // A migration adds a column to a placed table, and the schema is synchronized to it.
      await owner.query('alter table public.projects add column review_probe text');
      await syncPlacementSchema(owner, placed, db.roles);
      try {
        // The schema statement's result shape changed: the read is sent once more, under the schema's
        // statement (a statement named for public, bound under the schema's search path, changes shape too).
        const rows = await read(placed);
        expect(rows.map((r) => r.name)).toEqual(['after-move', 'before-move']);
        expect(rows[0]).toHaveProperty('review_probe', null);
        expect((await read(pooled)).map((r) => r.name)).toEqual(['pooled-1', 'pooled-2']);
      } finally {
        await owner.query('alter table public.projects drop column review_probe');
        await syncPlacementSchema(owner, placed, db.roles);
      }
    } finally {
      await owner.end();
    }
  });
});
