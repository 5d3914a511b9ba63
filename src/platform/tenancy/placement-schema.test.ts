import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { placementSchemaProblems, unprotectedTenantTables } from '../../../test/support/catalog.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { placedTables } from './placed-tables.js';
import { PLACEMENT_CHECK, dropPlacementSchema, syncPlacementSchema } from './placement-schema.js';
import { notOnCitus, onCitus } from '../../../test/support/citus.js';

/**
 * The structure of every placed table of a schema, by catalog, one line per fact, with the schema's name
 * written `public` (so the two compare as text): columns, constraints, indexes, triggers, RLS, policies,
 * table and column privileges, partitions. Independent of the code under test: pg's own deparsers, read
 * with search_path = pg_catalog so every reference is qualified.
 */
async function structure(c: pg.Client, nsp: string, tables: readonly string[]): Promise<string[]> {
  await c.query('begin');
  try {
    await c.query(`set local search_path = pg_catalog`);
    const res = await c.query<{ line: string }>(
      `with t as (
         select c.oid, c.relname::text as rel, c.relrowsecurity, c.relforcerowsecurity, c.relacl, c.relowner,
                pg_get_expr(c.relpartbound, c.oid) as bound
           from pg_class c where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p')
            and (c.relname = any ($2::text[]) or exists (select 1 from pg_inherits i join pg_class p
                   on p.oid = i.inhparent where i.inhrelid = c.oid and p.relname = any ($2::text[])))
       ), lines as (
         select rel || ' rls ' || relrowsecurity || ' ' || relforcerowsecurity || coalesce(' ' || bound, '') as l
           from t
         union all select rel || ' column ' || a.attnum || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                || ' ' || a.attnotnull || ' ' || a.attgenerated::text || a.attidentity::text || ' '
                || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' ' || a.attcollation || ' '
                || coalesce(a.attacl::text, '-')
           from t join pg_attribute a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped
           left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         union all select rel || ' constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
           from t join pg_constraint k on k.conrelid = t.oid and k.conname <> $3 and k.contype <> 'n'
         union all select rel || ' index ' || pg_get_indexdef(x.indexrelid) from t join pg_index x on x.indrelid = t.oid
         union all select rel || ' trigger ' || pg_get_triggerdef(g.oid) || ' ' || g.tgenabled::text
           from t join pg_trigger g on g.tgrelid = t.oid and not g.tgisinternal
         union all select rel || ' policy ' || p.polname || ' ' || p.polpermissive || ' ' || p.polcmd::text || ' '
                || p.polroles::regrole[]::text || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-') || ' '
                || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-')
           from t join pg_policy p on p.polrelid = t.oid
         union all select rel || ' acl ' || x.grantee::regrole || ' ' || x.privilege_type || ' ' || x.is_grantable
           from t, aclexplode(coalesce(t.relacl, acldefault('r', t.relowner))) x
       )
       select replace(l, $1 || '.', 'public.') as line from lines order by 1`,
      [nsp, tables, PLACEMENT_CHECK],
    );
    return res.rows.map((r) => r.line);
  } finally {
    await c.query('rollback');
  }
}

describe('syncPlacementSchema', () => {
  let db: ProvisionedDatabase;
  let admin: pg.Client;
  let owner: pg.Client;
  let placed: string[];
  const org = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
  const schema = 't_0190a1b2c3d47e5f8a9b0c1d2e3f4a5b';

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_sync');
    admin = await connect(db.adminUrl);
    owner = await connect(db.migrationUrl);
    placed = await placedTables(admin);
  });
  afterAll(async () => {
    await admin?.end();
    await owner?.end();
    if (db) await dropProvisioned(db);
  });

  const same = async () =>
    expect(await structure(admin, schema, placed)).toEqual(await structure(admin, 'public', placed));

  it("creates the schema with every placed table structurally identical to public's", async () => {
    const res = await syncPlacementSchema(owner, org, db.roles);
    expect(res.schema).toBe(schema);
    expect(res.changes.length).toBeGreaterThan(100);
    await same();
    const facts = await structure(admin, 'public', placed);
    // The comparison does compare something: partitions, policies, column privileges, triggers.
    expect(facts.some((l) => /^usage_events_p\d{8} rls true true FOR VALUES/.test(l))).toBe(true);
    expect(facts.some((l) => l.startsWith('projects policy tenant_isolation true *'))).toBe(true);
    expect(facts.some((l) => / column \d+ meter text .*=a\//.test(l))).toBe(true);
    // (The append-only guard triggers exist on plain PostgreSQL only: docs/citus.md.)
    expect(
      facts.some((l) => l.startsWith('audit_events trigger CREATE TRIGGER audit_events_append_only')),
    ).toBe(!(await onCitus(db.adminUrl)));
  });

  it('is owned by the owner role; USAGE as public has it; every placed table carries the organization check', async () => {
    const nsp = await admin.query<{ owner: string; runtime: boolean; definer: boolean; worker: boolean }>(
      `select pg_get_userbyid(nspowner) as owner, has_schema_privilege($2, oid, 'USAGE') as runtime,
              has_schema_privilege($3, oid, 'USAGE') as definer, has_schema_privilege($4, oid, 'USAGE') as worker
         from pg_namespace where nspname = $1`,
      [schema, db.roles.runtime, db.roles.definer, db.roles.worker],
    );
    expect(nsp.rows).toEqual([{ owner: db.roles.owner, runtime: true, definer: true, worker: false }]);
    const checks = await admin.query<{ rel: string; def: string }>(
      `select c.relname::text as rel, pg_get_constraintdef(k.oid) as def from pg_constraint k
         join pg_class c on c.oid = k.conrelid
        where c.relnamespace = $1::regnamespace and k.conname = $2 and not c.relispartition order by 1`,
      [schema, PLACEMENT_CHECK],
    );
    expect(checks.rows.map((r) => r.rel)).toEqual(placed);
    for (const r of checks.rows) expect(r.def).toBe(`CHECK ((organization_id = '${org}'::uuid))`);
  });

  it('takes CREATE on the schema from every role but its owner (a role that can create there shadows public for the organization)', async () => {
    await owner.query(`grant create on schema ${schema} to ${db.roles.runtime}, ${db.roles.definer}`);
    const res = await syncPlacementSchema(owner, org, db.roles);
    expect(res.changes.filter((c) => c.startsWith('revoke create'))).toHaveLength(2);
    const can = await admin.query<{ role: string }>(
      `select r.rolname as role from pg_roles r where has_schema_privilege(r.oid, $1, 'CREATE') and not r.rolsuper`,
      [schema],
    );
    expect(can.rows.map((r) => r.role)).toEqual([db.roles.owner]);
  });

  it('points foreign keys to placed tables at the schema, every other one at public', async () => {
    const fks = await admin.query<{ fk: string; target: string; placed: boolean }>(
      `select c.relname || '.' || k.conname as fk, f.relnamespace::regnamespace::text as target,
              f.relname = any ($2::text[]) as placed
         from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class f on f.oid = k.confrelid
        where c.relnamespace = $1::regnamespace and k.contype = 'f' and k.conparentid = 0`,
      [schema, placed],
    );
    expect(fks.rows.length).toBeGreaterThan(20);
    for (const r of fks.rows)
      expect({ fk: r.fk, target: r.target }).toEqual({ fk: r.fk, target: r.placed ? schema : 'public' });
    expect(fks.rows.some((r) => r.placed)).toBe(true);
  });

  it('is idempotent: a second call changes nothing', async () => {
    expect((await syncPlacementSchema(owner, org, db.roles)).changes).toEqual([]);
  });

  it('the catalog guard reports nothing with a placement schema present', async () => {
    expect(await unprotectedTenantTables(admin, db.roles.runtime)).toEqual([]);
    expect(await placementSchemaProblems(admin)).toEqual([]);
  });

  it('the placement guard reports what a schema holds besides its placed tables, and a placed table it lacks', async () => {
    await owner.query('begin');
    try {
      // A protected copy of a directory table: it would shadow public's for the organization.
      await owner.query(`create table ${schema}.memberships (like public.memberships including all)`);
      await owner.query(`alter table ${schema}.memberships enable row level security`);
      await owner.query(`alter table ${schema}.memberships force row level security`);
      await owner.query(`create policy tenant_isolation on ${schema}.memberships to ${db.roles.runtime}
        using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant())`);
      await owner.query(`grant select on ${schema}.memberships to ${db.roles.runtime}`);
      await owner.query(`create view ${schema}.users as select 1 as id`);
      await owner.query(`create function ${schema}.app_enqueue_job() returns int language sql as 'select 1'`);
      await owner.query(`alter table ${schema}.roles rename to roles_old`);
      // The RLS guard passes all of it.
      expect(await unprotectedTenantTables(owner, db.roles.runtime)).toEqual([]);
      expect(await placementSchemaProblems(owner)).toEqual([
        `${schema}.app_enqueue_job: a function`,
        `${schema}.memberships: not a placed table (relkind r)`,
        `${schema}.roles: placed table missing`,
        `${schema}.roles_old: not a placed table (relkind r)`,
        `${schema}.users: not a placed table (relkind v)`,
      ]);
    } finally {
      await owner.query('rollback');
    }
  });

  it('after a migration changed public (column, default, index, constraint, trigger, grant, partition), brings the schema up to it', async (ctx) => {
    await notOnCitus(
      ctx,
      'adds a trigger to projects: Citus refuses triggers on distributed tables',
      db.adminUrl,
    );
    await owner.query(`alter table public.projects add column note text not null default ''`);
    await owner.query(`alter table public.projects alter column name set default 'unnamed'`);
    await owner.query(`create index projects_note_idx on public.projects (organization_id, note)`);
    await owner.query(
      `alter table public.projects add constraint projects_note_length check (char_length(note) < 100)`,
    );
    await owner.query(`create trigger projects_no_truncate before truncate on public.projects
      for each statement execute function app_audit_refuse_change()`);
    await owner.query(`grant references on public.projects to ${db.roles.definer}`);
    await owner.query(`grant update (value) on public.usage_events to ${db.roles.definer}`);
    await owner.query(`create table public.usage_events_p20990101 partition of public.usage_events
      for values from ('2099-01-01') to ('2099-01-02')`);
    await owner.query(`alter table public.webhook_events drop constraint webhook_events_type_check`);
    const res = await syncPlacementSchema(owner, org, db.roles);
    expect(res.changes.join('\n')).toMatch(/add column "note" text default ''::text not null/);
    expect(res.changes.join('\n')).toMatch(/projects_note_idx/);
    expect(res.changes.join('\n')).toMatch(/drop constraint "webhook_events_type_check"/);
    await same();
    expect((await syncPlacementSchema(owner, org, db.roles)).changes).toEqual([]);
    // And back: what public dropped goes from the schema too.
    await owner.query(`drop index public.projects_note_idx`);
    await owner.query(`drop trigger projects_no_truncate on public.projects`);
    await owner.query(`alter table public.projects drop column note`);
    await owner.query(`revoke references on public.projects from ${db.roles.definer}`);
    await owner.query(`revoke update (value) on public.usage_events from ${db.roles.definer}`);
    await owner.query(`drop table public.usage_events_p20990101`);
    expect((await syncPlacementSchema(owner, org, db.roles)).changes.length).toBeGreaterThan(0);
    await same();
  });

  it('fails whole: a change it cannot apply leaves the schema as it was', async () => {
    // (No such organization: foreign keys are not checked in replica mode.)
    await admin.query('begin');
    await admin.query('set local session_replication_role = replica');
    await admin.query(`insert into ${schema}.projects (organization_id, id, name) values ($1, $2, 'p')`, [
      org,
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c',
    ]);
    await admin.query('commit');
    // A NOT NULL column without a default: public is empty here, the schema is not.
    await owner.query(`alter table public.projects add column required text not null`);
    const before = await structure(admin, schema, placed);
    await expect(syncPlacementSchema(owner, org, db.roles)).rejects.toThrow(/required/);
    expect(await structure(admin, schema, placed)).toEqual(before);
    await owner.query(`alter table public.projects drop column required`);
  });

  it("changes a column's identity, or makes a stored generated column plain, in place: the schema's rows keep their values", async () => {
    // The schema's projects holds a row (the test above).
    const values = async (column: string) =>
      (await admin.query<{ v: string }>(`select ${column}::text as v from ${schema}.projects`)).rows.map(
        (r) => r.v,
      );
    // (Not `same()`: the failed sync above left the schema's projects with other column numbers.)
    const sync = async () => {
      await syncPlacementSchema(owner, org, db.roles);
      expect((await syncPlacementSchema(owner, org, db.roles)).changes).toEqual([]);
    };
    await owner.query(`alter table public.projects add column serial_no bigint not null default 0`);
    await sync();
    await admin.query(`update ${schema}.projects set serial_no = 42`);
    // Migrations making a column an identity (keeping its values), changing its kind, making it plain again.
    await owner.query(`alter table public.projects alter column serial_no drop default,
      alter column serial_no add generated by default as identity`);
    await sync();
    expect(await values('serial_no')).toEqual(['42']);
    await owner.query(`alter table public.projects alter column serial_no set generated always`);
    await sync();
    expect(await values('serial_no')).toEqual(['42']);
    await owner.query(`alter table public.projects alter column serial_no drop identity`);
    await sync();
    expect(await values('serial_no')).toEqual(['42']);
    // A stored generated column made plain keeps the values it had.
    await owner.query(
      `alter table public.projects add column label text generated always as (name || '!') stored`,
    );
    await sync();
    await owner.query(`alter table public.projects alter column label drop expression`);
    await sync();
    expect(await values('label')).toEqual(['p!']);
    await owner.query(`alter table public.projects drop column serial_no, drop column label`);
    await sync();
  });

  it('refuses to drop a table of the schema that holds rows (a renamed or no longer placed table): they would be lost', async () => {
    // A row of the organization in a placed table, then a migration renames the table.
    await admin.query('begin');
    await admin.query('set local session_replication_role = replica');
    await admin.query(`delete from ${schema}.projects`);
    await admin.query(
      `insert into ${schema}.projects (organization_id, id, name) values ($1, gen_random_uuid(), 'kept')`,
      [org],
    );
    await admin.query('commit');
    await owner.query('alter table public.projects rename to projects_renamed');
    try {
      await expect(syncPlacementSchema(owner, org, db.roles)).rejects.toThrow(/projects.*holds rows/);
      const n = await admin.query(`select name from ${schema}.projects`);
      expect(n.rows).toEqual([{ name: 'kept' }]);
    } finally {
      await owner.query('alter table public.projects_renamed rename to projects');
    }
    expect((await syncPlacementSchema(owner, org, db.roles)).changes).toEqual([]);
  });

  it('refuses a schema of that name owned by another role', async () => {
    const other = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d';
    await admin.query(`create schema t_0190a1b2c3d47e5f8a9b0c1d2e3f4a5d`);
    await admin.query(
      `grant create, usage on schema t_0190a1b2c3d47e5f8a9b0c1d2e3f4a5d to ${db.roles.owner}`,
    );
    try {
      await expect(syncPlacementSchema(owner, other, db.roles)).rejects.toThrow(/owned by postgres/);
    } finally {
      await admin.query(`drop schema t_0190a1b2c3d47e5f8a9b0c1d2e3f4a5d cascade`);
    }
  });

  it('dropPlacementSchema drops it', async () => {
    expect(await dropPlacementSchema(owner, org)).toBe(true);
    expect(await dropPlacementSchema(owner, org)).toBe(false);
    const n = await admin.query('select 1 from pg_namespace where nspname = $1', [schema]);
    expect(n.rowCount).toBe(0);
  });
});
