/**
 * What "a connection comes back clean" means to the pool hygiene tests (imported by tests only), one
 * definition for every placement kind: `pool-hygiene.test.ts` (pooled, schema) and
 * `pool-hygiene-database.test.ts` (a `database` placement's two pools).
 */
import type pg from 'pg';
import { expect } from 'vitest';

/** The search path of a session that never changed it. */
const DEFAULT_SEARCH_PATH = '"$user", public';

/** The prepared statements the product itself leaves on a pooled connection: its statement cache's
 *  (pipelined-query.ts `statementName`, the setters' preludes), protocol-level and named `sr_…`. */
const OWN_STATEMENT = /^sr_/;

/**
 * Checks out every connection `pool` holds, all at once (so each is looked at, none twice), and expects
 * each idle and clean: no tenant set (so no row of a tenant table), the default search path, no
 * transaction open or failed, and no prepared statement but the statement cache's own (a `PREPARE` of
 * SQL would show here). `label` names the pool in a failure. Fails on a pool holding no connection: it
 * would check nothing.
 */
export async function expectPoolClean(pool: pg.Pool, label: string): Promise<void> {
  expect(pool.totalCount, `${label}: connections to check`).toBeGreaterThan(0);
  const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
  try {
    for (const c of clients) {
      // Before any query of ours: a connection handed back inside a transaction says so here.
      expect((c as unknown as { _txStatus: string })._txStatus, `${label}: transaction status`).toBe('I');
      const r = await c.query<{ t: string | null; n: number; path: string }>(
        `select app_current_tenant()::text as t, (select count(*)::int from projects) as n,
                current_setting('search_path') as path`,
      );
      expect(r.rows[0], label).toEqual({ t: null, n: 0, path: DEFAULT_SEARCH_PATH });
      const prepared = await c.query<{ name: string; from_sql: boolean }>(
        'select name, from_sql from pg_prepared_statements',
      );
      const foreign = prepared.rows.filter((p) => p.from_sql || !OWN_STATEMENT.test(p.name));
      expect(foreign, `${label}: prepared statements not the statement cache's`).toEqual([]);
    }
  } finally {
    clients.forEach((c) => c.release());
  }
}
