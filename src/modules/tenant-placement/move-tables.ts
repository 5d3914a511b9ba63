import type pg from 'pg';
import { placedTables } from '../../platform/tenancy/placed-tables.js';

/** Keys for placed tables without a primary key: columns that identify a row of one organization,
 *  leading with an indexed prefix (`usage_events`: ids are unique per organization through
 *  usage_event_keys; its index is (organization_id, meter, occurred_at)). */
const KEYS_WITHOUT_PRIMARY_KEY: Readonly<Record<string, readonly string[]>> = {
  usage_events: ['meter', 'occurred_at', 'id'],
};

export interface MoveTable {
  readonly name: string;
  /** The key columns after organization_id (keyset order of the copy). */
  readonly keys: readonly string[];
}

/**
 * The placed tables with their keys, parents before children (foreign keys between placed tables:
 * copies and upserts run in this order, deletions in the reverse). Read from the catalog of `public`.
 */
export async function moveTables(client: pg.ClientBase): Promise<MoveTable[]> {
  const names = await placedTables(client);
  const res = await client.query<{ name: string; pk: string[] | null; refs: string[] }>(
    `select c.relname::text as name,
        (select array_agg(a.attname::text order by array_position(x.indkey::int2[], a.attnum))
           from pg_catalog.pg_index x join pg_catalog.pg_attribute a
             on a.attrelid = x.indrelid and a.attnum = any (x.indkey)
          where x.indrelid = c.oid and x.indisprimary) as pk,
        array(select distinct r.relname::text from pg_catalog.pg_constraint k
                join pg_catalog.pg_class r on r.oid = k.confrelid
               where k.conrelid = c.oid and k.contype = 'f' and r.oid <> c.oid) as refs
       from pg_catalog.pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relname = any ($1::text[])`,
    [names],
  );
  const byName = new Map(res.rows.map((r) => [r.name, r]));
  const out: MoveTable[] = [];
  const seen = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (seen.has(name) || !byName.has(name)) return;
    if (path.includes(name))
      throw new Error(`foreign keys of placed tables form a cycle: ${path.join(' → ')}`);
    const row = byName.get(name)!;
    for (const ref of row.refs) visit(ref, [...path, name]);
    seen.add(name);
    // A table with one row per organization (primary key organization_id alone) is keyed by it.
    const rest = row.pk?.filter((k) => k !== 'organization_id');
    const keys = row.pk ? (rest!.length > 0 ? rest : row.pk) : KEYS_WITHOUT_PRIMARY_KEY[name];
    if (!keys || keys.length === 0) {
      throw new Error(
        `placed table ${name} has no key to move its rows by (add it to KEYS_WITHOUT_PRIMARY_KEY)`,
      );
    }
    out.push({ name, keys });
  };
  for (const name of names) visit(name, []);
  return out;
}
