import type pg from 'pg';
import { placedTables } from '../../src/platform/tenancy/placed-tables.js';

/**
 * TEST ONLY: what names a placed table of `public` in a way the search path cannot redirect to an
 * organization's schema (docs/isolation-models.md), so it would read or write public's table for an
 * organization placed in its own schema:
 * - a function body (`prosrc`) naming it with a `public` qualifier, however spelled: any case, the
 *   schema or the table quoted, blanks or a line break around the dot;
 * - anything bound to public's table itself at creation, which no search path changes: a view or rule
 *   of another relation, a `begin atomic` SQL body, a policy or a trigger of another table (from
 *   `pg_depend`; a table's own constraints, policies and rules, and foreign keys between placed tables,
 *   which each placement schema has its own copies of, are not references).
 * Each entry names the function (`regprocedure`) or the object. Empty when nothing does.
 */
export async function publicPlacedReferences(client: pg.ClientBase): Promise<string[]> {
  const placed = await placedTables(client);
  if (!placed.includes('audit_events')) throw new Error('the placed tables were not found');
  const res = await client.query<{ what: string }>(
    `select p.oid::regprocedure::text as what from pg_proc p
       join pg_namespace n on n.oid = p.pronamespace
      where n.nspname not in ('pg_catalog', 'information_schema')
        and p.prosrc ~* ('"?public"?\\s*\\.\\s*"?(' || array_to_string($1::text[], '|') || ')("|\\M)')
     union
     select case d.classid
              when 'pg_proc'::regclass then d.objid::regprocedure::text
              when 'pg_rewrite'::regclass then 'rule of ' || r.ev_class::regclass::text
              when 'pg_policy'::regclass then 'policy on ' || y.polrelid::regclass::text
              else 'trigger on ' || g.tgrelid::regclass::text end
          || ' -> public.' || c.relname
       from pg_depend d
       join pg_class c on d.refclassid = 'pg_class'::regclass and c.oid = d.refobjid
       left join pg_rewrite r on d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
       left join pg_policy y on d.classid = 'pg_policy'::regclass and y.oid = d.objid
       left join pg_trigger g on d.classid = 'pg_trigger'::regclass and g.oid = d.objid
      where c.relnamespace = 'public'::regnamespace and c.relname = any ($1::text[])
        and (d.classid = 'pg_proc'::regclass
          or (d.classid = 'pg_rewrite'::regclass and r.ev_class <> c.oid)
          or (d.classid = 'pg_policy'::regclass and y.polrelid <> c.oid)
          or (d.classid = 'pg_trigger'::regclass and g.tgrelid <> c.oid))
      order by 1`,
    [placed],
  );
  return res.rows.map((r) => r.what);
}
