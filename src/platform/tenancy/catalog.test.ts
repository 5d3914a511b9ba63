import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connect, testDb } from '../../../test/support/tenancy.js';

/**
 * Invariants 1 and 2 of ISOLATION.md, read from the catalogs. Adding a table with `organization_id`
 * but without the protection makes `unprotectedTenantTables` non-empty, and this test fails.
 */
export async function unprotectedTenantTables(c: pg.Client, runtimeRole: string): Promise<string[]> {
  const res = await c.query<{ table: string; problem: string }>(
    `with t as (
       select cl.oid, cl.relname, cl.relrowsecurity, cl.relforcerowsecurity
       from pg_class cl join pg_namespace n on n.oid = cl.relnamespace
       where n.nspname = 'public' and cl.relkind in ('r', 'p')
         and exists (select 1 from pg_attribute a where a.attrelid = cl.oid and a.attname = 'organization_id'
                     and not a.attisdropped)
     )
     select relname as table, problem from (
       select relname, 'rls not enabled' as problem from t where not relrowsecurity
       union all select relname, 'rls not forced' from t where not relforcerowsecurity
       union all select relname, 'organization_id nullable or not uuid' from t where exists (
         select 1 from pg_attribute a where a.attrelid = t.oid and a.attname = 'organization_id'
           and (not a.attnotnull or a.atttypid <> 'uuid'::regtype))
       union all select relname, 'no index leading with organization_id' from t where not exists (
         select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
         where i.indrelid = t.oid and a.attname = 'organization_id')
       union all select relname, 'no policy with USING and WITH CHECK on app_current_tenant() for the runtime role'
       from t where not exists (
         select 1 from pg_policy p
         where p.polrelid = t.oid and p.polcmd = '*' and p.polpermissive
           and ((select oid from pg_roles where rolname = $1) = any (p.polroles) or 0 = any (p.polroles))
           and pg_get_expr(p.polqual, p.polrelid) = '(organization_id = app_current_tenant())'
           and pg_get_expr(p.polwithcheck, p.polrelid) = '(organization_id = app_current_tenant())')
     ) problems order by 1, 2`,
    [runtimeRole],
  );
  return res.rows.map((r) => `${r.table}: ${r.problem}`);
}

describe('catalog: every tenant table is protected', () => {
  let admin: pg.Client;
  let owner: pg.Client;
  const db = testDb();

  beforeAll(async () => {
    admin = await connect(db.adminUrl);
    owner = await connect(db.migrationUrl);
  });
  afterAll(async () => {
    await admin.end();
    await owner.end();
  });

  it('finds tenant tables, and every one has forced RLS, the index and the policy', async () => {
    const tables = await admin.query<{ relname: string }>(
      `select distinct c.relname from pg_attribute a join pg_class c on c.oid = a.attrelid
       join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r' and a.attname = 'organization_id'`,
    );
    expect(tables.rows.map((r) => r.relname)).toEqual(
      expect.arrayContaining([
        'projects',
        'tenant_placements',
        'idempotency_keys',
        'memberships',
        'roles',
        'invitations',
        'api_keys',
        'feature_flag_overrides',
      ]),
    );
    expect(await unprotectedTenantTables(admin, db.roles.runtime)).toEqual([]);
  });

  it('organizations is its own tenant: forced RLS on id = app_current_tenant()', async () => {
    const res = await admin.query(
      `select c.relrowsecurity, c.relforcerowsecurity, pg_get_expr(p.polqual, p.polrelid) as q,
              pg_get_expr(p.polwithcheck, p.polrelid) as w
       from pg_class c join pg_policy p on p.polrelid = c.oid where c.relname = 'organizations'`,
    );
    expect(res.rows).toEqual([
      {
        relrowsecurity: true,
        relforcerowsecurity: true,
        q: '(id = app_current_tenant())',
        w: '(id = app_current_tenant())',
      },
    ]);
  });

  it('fails when a table with organization_id lacks the protection (throwaway table)', async () => {
    await owner.query('begin');
    try {
      await owner.query('create table throwaway_unprotected (organization_id uuid not null, x int)');
      const problems = await unprotectedTenantTables(owner, db.roles.runtime);
      expect(problems).toEqual(
        expect.arrayContaining([
          'throwaway_unprotected: rls not enabled',
          'throwaway_unprotected: rls not forced',
          'throwaway_unprotected: no index leading with organization_id',
        ]),
      );
      await owner.query('alter table throwaway_unprotected enable row level security');
      await owner.query('alter table throwaway_unprotected force row level security');
      await owner.query('create index on throwaway_unprotected (organization_id)');
      // A policy in the forbidden form (no nullif) does not count as protection.
      await owner.query(
        `create policy p on throwaway_unprotected using (organization_id = current_setting('app.tenant_id')::uuid)`,
      );
      expect(await unprotectedTenantTables(owner, db.roles.runtime)).toEqual([
        'throwaway_unprotected: no policy with USING and WITH CHECK on app_current_tenant() for the runtime role',
      ]);
    } finally {
      await owner.query('rollback');
    }
  });

  it('the policy function has the required form: STABLE, nullif, no sub-select', async () => {
    const res = await admin.query<{ provolatile: string; src: string }>(
      `select provolatile, prosrc as src from pg_proc where proname = 'app_current_tenant'`,
    );
    expect(res.rows[0]?.provolatile).toBe('s');
    expect(res.rows[0]?.src.trim()).toBe(`select nullif(current_setting('app.tenant_id', true), '')::uuid`);
  });

  it('the runtime role is not superuser, has no BYPASSRLS, owns nothing', async () => {
    const role = await admin.query(
      'select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = $1',
      [db.roles.runtime],
    );
    expect(role.rows[0]).toEqual({
      rolsuper: false,
      rolbypassrls: false,
      rolcreaterole: false,
      rolcreatedb: false,
    });
    const owned = await admin.query(
      `select c.relname from pg_class c join pg_roles r on r.oid = c.relowner where r.rolname = $1
       union all select p.proname from pg_proc p join pg_roles r on r.oid = p.proowner where r.rolname = $1
       union all select n.nspname from pg_namespace n join pg_roles r on r.oid = n.nspowner where r.rolname = $1`,
      [db.roles.runtime],
    );
    expect(owned.rows).toEqual([]);
    const member = await admin.query(
      `select b.rolname from pg_auth_members m join pg_roles b on b.oid = m.roleid
       join pg_roles r on r.oid = m.member where r.rolname = $1`,
      [db.roles.runtime],
    );
    expect(member.rows).toEqual([]);
  });

  it('the definer role cannot log in, and only the runtime role may run its functions', async () => {
    const role = await admin.query('select rolcanlogin, rolbypassrls from pg_roles where rolname = $1', [
      db.roles.definer,
    ]);
    expect(role.rows[0]).toEqual({ rolcanlogin: false, rolbypassrls: true });
    const fns = await admin.query<{ proname: string; prosecdef: boolean; acl: string }>(
      `select p.proname, p.prosecdef, array_to_string(p.proacl, ',') as acl from pg_proc p
       join pg_roles r on r.oid = p.proowner where r.rolname = $1 order by 1`,
      [db.roles.definer],
    );
    expect(fns.rows.map((f) => f.proname)).toEqual([
      // Appends to the audit chains: the only way to write them (each checks its tenant scope).
      'app_audit_append',
      // The runtime role's only way into the job queue (checks task, tenant scope, sealed payload).
      'app_enqueue_job',
      'app_platform_audit_append',
      'app_priv_api_key_by_key_id',
      'app_priv_audit_chains_to_checkpoint',
      'app_priv_invitation_by_token',
      'app_priv_list_organization_ids',
      'app_priv_organization_id_by_slug',
      'app_priv_platform_organizations',
      'app_priv_user_organizations',
    ]);
    for (const f of fns.rows) {
      expect(f.prosecdef).toBe(true);
      expect(f.acl).not.toMatch(/(^|,)=X/); // no EXECUTE for PUBLIC
      expect(f.acl).toContain(`${db.roles.runtime}=X`);
    }
  });
});
