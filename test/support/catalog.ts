import type pg from 'pg';
import { GLOBAL_RELATIONS } from '../../src/platform/db/runtime-grants.js';

/**
 * Schemas the runtime role can reach (USAGE, its own or PUBLIC's), system schemas aside: the scope of the
 * catalog and fail-closed tests (ISOLATION.md invariant 9). `$1` is the runtime role's name.
 */
export const REACHABLE_SCHEMAS = `select n.oid from pg_namespace n
  where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
    and has_schema_privilege($1, n.oid, 'USAGE')`;

/**
 * The oids of the relations (tables, views, foreign tables) of those schemas that the runtime role holds
 * any privilege on, table- or column-level. `$1` is the runtime role's name.
 */
export const REACHABLE_RELATIONS = `select c.oid from pg_class c
  where c.relnamespace in (${REACHABLE_SCHEMAS}) and c.relkind in ('r', 'p', 'v', 'm', 'f')
    and (has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
         or has_any_column_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,REFERENCES'))`;

/**
 * Invariants 1 and 2 of ISOLATION.md, read from the catalogs. A tenant table is any table with
 * `organization_id` in any schema the runtime role can reach, and `public.organizations` (its own tenant:
 * `id`). Each must have ENABLE and FORCE row level security and EXACTLY one policy, in the one expected
 * form: permissive, FOR ALL, TO the runtime role only, USING and WITH CHECK both exactly
 * `(organization_id = app_current_tenant())`. Any other policy (any role, any command, permissive or
 * restrictive, PUBLIC) is reported: PostgreSQL ORs permissive policies, so one `USING (true)` opens a table.
 * A relation the runtime role holds any privilege on is a tenant table too unless it is declared global
 * (`GLOBAL_RELATIONS`, runtime-grants.ts): one keyed by another column (`org_id`) fails instead of passing.
 */
export async function unprotectedTenantTables(
  c: pg.Client,
  runtimeRole: string,
  globals: readonly string[] = Object.keys(GLOBAL_RELATIONS),
): Promise<string[]> {
  const res = await c.query<{ table: string; problem: string }>(
    `with t as (
       select cl.oid, case when n.nspname = 'public' then '' else n.nspname || '.' end || cl.relname as relname,
              cl.relrowsecurity, cl.relforcerowsecurity,
              case when n.nspname = 'public' and cl.relname = 'organizations' then 'id' else 'organization_id' end
                as col
       from pg_class cl join pg_namespace n on n.oid = cl.relnamespace
       where (cl.relnamespace in (${REACHABLE_SCHEMAS}) and cl.relkind in ('r', 'p')
         and (exists (select 1 from pg_attribute a where a.attrelid = cl.oid and a.attname = 'organization_id'
                      and not a.attisdropped)
              or (n.nspname = 'public' and cl.relname = 'organizations')))
          or (cl.oid in (${REACHABLE_RELATIONS})
              and case when n.nspname = 'public' then '' else n.nspname || '.' end || cl.relname <> all ($2::text[]))
     ), p as (
       select t.relname, t.col, pol.polname, pol.polpermissive, pol.polcmd, pol.polroles,
              pg_get_expr(pol.polqual, pol.polrelid) as qual, pg_get_expr(pol.polwithcheck, pol.polrelid) as chk,
              pol.polpermissive and pol.polcmd = '*'
                and pol.polroles = array[(select oid from pg_roles where rolname = $1)]::oid[]
                and pg_get_expr(pol.polqual, pol.polrelid) = '(' || t.col || ' = app_current_tenant())'
                and pg_get_expr(pol.polwithcheck, pol.polrelid) = '(' || t.col || ' = app_current_tenant())'
                as expected
       from t join pg_policy pol on pol.polrelid = t.oid
     )
     select relname as table, problem from (
       select relname, 'rls not enabled' as problem from t where not relrowsecurity
       union all select relname, 'rls not forced' from t where not relforcerowsecurity
       union all select relname, 'reachable by the runtime role, not declared global, and no organization_id column'
         from t where not exists (select 1 from pg_attribute a where a.attrelid = t.oid and a.attname = t.col
                                    and not a.attisdropped)
       union all select relname, 'organization_id nullable or not uuid' from t where exists (
         select 1 from pg_attribute a where a.attrelid = t.oid and a.attname = t.col
           and (not a.attnotnull or a.atttypid <> 'uuid'::regtype))
       union all select relname, 'no index leading with organization_id' from t where not exists (
         select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
         where i.indrelid = t.oid and a.attname = t.col)
       union all select relname, 'no policy with USING and WITH CHECK on app_current_tenant() for the runtime role'
       from t where not exists (select 1 from p where p.relname = t.relname and p.expected)
       union all select relname, 'more than one tenant policy' from p where expected
         group by relname having count(*) > 1
       union all select relname, 'unexpected policy ' || polname || ': '
         || concat_ws(', ',
              case when not polpermissive then 'restrictive' end,
              case when polcmd <> '*' then 'command ' || polcmd::text end,
              case when 0 = any (polroles) then 'granted to PUBLIC'
                   when polroles <> array[(select oid from pg_roles where rolname = $1)]::oid[]
                     then 'roles ' || (select string_agg(coalesce(r.rolname, 'PUBLIC'), ' ' order by 1)
                                       from unnest(polroles) o left join pg_roles r on r.oid = o) end,
              'USING ' || coalesce(qual, '-'), 'WITH CHECK ' || coalesce(chk, '-'))
       from p where not expected
     ) problems order by 1, 2`,
    [runtimeRole, globals],
  );
  return res.rows.map((r) => `${r.table}: ${r.problem}`);
}
