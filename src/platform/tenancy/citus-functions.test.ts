import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { citusClassification } from './citus-tables.js';

/**
 * Issue 14, item 6 (docs/citus.md, "Functions"): Citus cannot plan an SQL-language function with
 * parameters over a distributed table; PL/pgSQL works. Read from the catalog: no SQL-language function
 * with parameters (any schema but PostgreSQL's own) names a table Citus distributes. A name in its body
 * counts (a mention in a comment too: PL/pgSQL costs nothing there). Migration 0048 rewrote the last ones.
 */
/** `<function> reads <table>` for each SQL-language function with parameters naming one of `tables`. */
async function sqlFunctionsReading(q: pg.Client, tables: readonly string[]): Promise<string[]> {
  const fns = await q.query<{ fn: string; src: string }>(
    `select p.oid::regprocedure::text as fn, lower(coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)) as src
       from pg_proc p join pg_language l on l.oid = p.prolang join pg_namespace n on n.oid = p.pronamespace
      where l.lanname = 'sql' and p.pronargs > 0
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
      order by 1`,
  );
  return fns.rows.flatMap((f) =>
    tables
      .filter((t) => new RegExp(`(^|[^a-z0-9_$])${t}([^a-z0-9_$]|$)`).test(f.src))
      .map((t) => `${f.fn} reads ${t}: rewrite it in PL/pgSQL`),
  );
}

describe('catalog: functions Citus can plan', () => {
  let admin: pg.Client;
  beforeAll(async () => {
    admin = await connect(testDb().adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
  });

  it('no SQL-language function with parameters reads a distributed (tenant) table', async () => {
    const distributed = (await citusClassification(admin))
      .filter((c) => c.kind === 'distributed')
      .map((c) => c.table);
    expect(distributed).toEqual(
      expect.arrayContaining(['memberships', 'placement_moves', 'tenant_placements']),
    );
    expect(await sqlFunctionsReading(admin, distributed)).toEqual([]);
  });

  it('the check would catch one: an SQL function with a parameter over a tenant table', async () => {
    await admin.query('begin');
    try {
      await admin.query(`create function test_sql_over_projects(p uuid) returns bigint language sql stable
        as $$ select count(*) from public.projects where organization_id = p $$`);
      expect(await sqlFunctionsReading(admin, ['projects'])).toEqual([
        'test_sql_over_projects(uuid) reads projects: rewrite it in PL/pgSQL',
      ]);
    } finally {
      await admin.query('rollback');
    }
  });
});
