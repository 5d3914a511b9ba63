import pg from 'pg';
import { withoutExplicitFilterCheck } from '../../src/platform/tenancy/explicit-filters.js';

/** The tenant tables, comma-separated: every table (or partition) of `public` with `organization_id`. */
export async function tenantTablesForFilterCheck(adminUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const res = await client.query<{ name: string }>(
      `select c.relname::text as name
         from pg_catalog.pg_class c
         join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
        order by 1`,
    );
    return res.rows.map((r) => r.name).join(',');
  } finally {
    await client.end();
  }
}

/** A test body whose statements must lack the explicit filter: it proves what RLS alone does. */
export const rlsProbe =
  <T>(fn: () => Promise<T>) =>
  (): Promise<T> =>
    withoutExplicitFilterCheck('rlsBackstop', fn);
