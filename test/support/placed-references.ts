import type pg from 'pg';
import { placedTables } from '../../src/platform/tenancy/placed-tables.js';

/**
 * TEST ONLY: what names a placed table of `public` in a way the search path cannot redirect to an
 * organization's schema (docs/isolation-models.md): a function body naming it with a `public.`
 * qualifier. Each entry is the function (`regprocedure`). Empty when nothing does.
 */
export async function publicPlacedReferences(client: pg.ClientBase): Promise<string[]> {
  const placed = await placedTables(client);
  if (!placed.includes('audit_events')) throw new Error('the placed tables were not found');
  const res = await client.query<{ what: string }>(
    `select p.oid::regprocedure::text as what from pg_proc p
       join pg_namespace n on n.oid = p.pronamespace
      where n.nspname not in ('pg_catalog', 'information_schema')
        and p.prosrc ~ ('public\\.(' || array_to_string($1::text[], '|') || ')\\M')
      order by 1`,
    [placed],
  );
  return res.rows.map((r) => r.what);
}
