import type pg from 'pg';
import { sql, type CompiledQuery, type Expression, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { compileOnly } from '../../../test/support/compile-only.js';
import { startPgBouncer, viaPgBouncer } from '../../../test/support/pgbouncer.js';
import { addPlacementProject, newPlacementOrg, placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { withoutExplicitFilterCheck } from './explicit-filters.js';
import { tenantSchemaName } from './placed-tables.js';
import type { PlacementRouter } from './placement.js';
import { setStatementCache, statementCacheEnabled } from './pipelined-query.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import type { TenantDb } from './tenant-database.js';
import { createWithTenant } from './with-tenant.js';

/**
 * The qualified reads of schema organizations (schema-qualifier.ts) against the search-path form they
 * replace: each test states what a qualified read must keep from it (how names resolve, the setter's
 * tenant guard, statement names, one send per read). The first version of the qualifier failed each.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

describe('qualified reads of a schema organization resolve as the search path would', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let placed: string;
  let other: string;
  let placed2: string;
  let schema: string;

  const newOrg = (prefix: string) => newPlacementOrg(tenancy, prefix);
  const addProject = (org: string, name: string) => addPlacementProject(tenancy, org, name);
  /** The same builder read in a read scope (qualified) and in a write scope (the search path). */
  const bothForms = async <T>(org: string, read: (t: TenantDb) => Promise<T>) =>
    withoutExplicitFilterCheck('rlsBackstop', async () => ({
      qualified: await tenancy.withTenant(org, read, { mode: 'read' }),
      searchPath: await tenancy.withTenant(org, read, { mode: 'write' }),
    }));
  /**
   * `placed`'s project names where a subquery has a row: the outer read of the subquery tests, around the
   * subquery `inner` builds on the outer query's expression builder (untyped, so it may alias any table).
   */
  const projectsWhereExists = (t: TenantDb, inner: (eb: AnyDb) => Expression<unknown>) =>
    t
      .selectFrom('projects')
      .select('projects.name')
      .where('projects.organization_id', '=', placed)
      .where((eb) => eb.exists(inner(eb as unknown as AnyDb)));
  /** The names of `placed`'s roles read from a derived table aliased `projects` (a held table's name). */
  const rolesAsProjects = (on: AnyDb) =>
    on
      .selectFrom((eb) =>
        eb
          .selectFrom('roles')
          .select(['roles.key as name'])
          .where('roles.organization_id', '=', placed)
          .as('projects'),
      )
      .select('projects.name');
  /** The outcome of a text as the superuser (no RLS: resolution only), rows or error code. */
  const outcome = async (text: string, params: readonly unknown[], path?: string) => {
    await admin.query('begin');
    try {
      if (path !== undefined) await admin.query(`select set_config('search_path', $1, true)`, [path]);
      const res = await admin.query(text, params as unknown[]);
      return { rows: res.rows as unknown[] };
    } catch (err) {
      return { error: (err as { code?: string }).code };
    } finally {
      await admin.query('rollback');
    }
  };
  /** The statement as the search path runs it and as the qualifier rewrote it (default path). */
  const equivalence = async (compiled: CompiledQuery) => {
    const target = await tenancy.router.resolve(placed);
    const qualified = target.setter.readQualifier?.qualify(compiled);
    expect(qualified, 'the qualifier takes this read').toBeDefined();
    return {
      searchPath: await outcome(compiled.sql, compiled.parameters, `"${schema}", public`),
      qualified: await outcome(qualified!, compiled.parameters),
    };
  };

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_revq');
    // One connection: every scope shares it (prepared statements are per connection).
    tenancy = createTenancy({ url: db.url, poolSize: 1 });
    admin = await connect(db.adminUrl);
    placed = await newOrg('placed');
    other = await newOrg('other');
    schema = tenantSchemaName(placed);
    await addProject(placed, 'alpha');
    await addProject(placed, 'beta');
    await addProject(other, 'other-1');
    await admin.query(
      `insert into usage_events (organization_id, id, meter, occurred_at) values ($1, 'e1', 'api_requests', now())`,
      [placed],
    );
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, placed);
    tenancy.router.invalidate(placed);
    placed2 = await newOrg('placed2');
    await addProject(placed2, 'gamma');
    await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, placed2);
    tenancy.router.invalidate(placed2);
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  // a reference's table is rewritten as if it named the table, but in SQL it names a FROM item
  // (the alias, if any). A subquery that aliases a held table with a held table's name is read differently.
  it("a subquery aliasing a held table with that table's own name reads the same rows qualified as under the search path", async () => {
    const read = async (t: TenantDb) =>
      (
        await projectsWhereExists(t, (eb) =>
          eb
            .selectFrom('projects as projects')
            .select('projects.id')
            .where('projects.organization_id', '=', placed)
            .where('projects.name', '=', 'alpha'),
        )
          .orderBy('projects.name')
          .execute()
      ).map((r) => r.name);
    const got = await bothForms(placed, read);
    // Under the search path the subquery's `projects` is its own FROM item: some project is 'alpha', so
    // every project is listed. Qualified, `"t_…"."projects"."name"` skips the aliased item and binds to
    // the OUTER row: only 'alpha'.
    expect(got.searchPath).toEqual(['alpha', 'beta']);
    expect(got.qualified).toEqual(got.searchPath);
  });

  it("a subquery aliasing another held table with a held table's name does not fail qualified (42703)", async () => {
    const read = async (t: TenantDb) =>
      (
        await projectsWhereExists(t, (eb) =>
          eb
            .selectFrom('roles as projects')
            .select('projects.key')
            .where('projects.organization_id', '=', placed),
        ).execute()
      ).length;
    // Qualified, `"t_…"."projects"."key"` binds to the outer projects, which has no `key`: the read fails
    // with 42703, which the 42P01/3F000 fallback does not catch. Under the search path it runs.
    const searchPath = await withoutExplicitFilterCheck('rlsBackstop', () =>
      tenancy.withTenant(placed, read, { mode: 'write' }),
    );
    const qualified = await withoutExplicitFilterCheck('rlsBackstop', () =>
      tenancy.withTenant(placed, read, { mode: 'read' }).catch((err: { code?: string }) => err.code),
    );
    expect(qualified).toBe(searchPath);
  });

  it("a derived table or another table aliased with a held table's name: the qualified text runs as the statement does (not 42P01, re-sent under the search path on every execution)", async () => {
    const derived = rolesAsProjects(compileOnly as unknown as AnyDb)
      .orderBy('projects.name')
      .compile();
    const otherTable = (compileOnly as unknown as AnyDb)
      .selectFrom('roles as projects')
      .select('projects.key')
      .where('projects.organization_id', '=', placed)
      .orderBy('projects.key')
      .compile();
    const publicOne = (compileOnly as unknown as AnyDb)
      .selectFrom('public.projects')
      .select('projects.name')
      .where('projects.organization_id' as never, '=', other as never)
      .compile();
    for (const q of [derived, otherTable, publicOne]) {
      const got = await equivalence(q);
      expect.soft(got.searchPath).not.toHaveProperty('error');
      expect.soft({ sql: q.sql, ...got.qualified }).toEqual({ sql: q.sql, ...got.searchPath });
    }
  });

  it("a read whose qualified text PostgreSQL rejects (a held table's name as a derived table's alias) is not sent twice on every execution", async () => {
    // Each pipeline ends with one Sync: counted on the wire of a tenancy of its own.
    let syncs = 0;
    const counted = createTenancy({ url: db.url, poolSize: 1 });
    counted.control.pool.on('connect', (client) => {
      const wire = (client as unknown as { connection: { sync(): void } }).connection;
      const sync = wire.sync.bind(wire);
      wire.sync = () => {
        syncs += 1;
        sync();
      };
    });
    try {
      const read = (t: TenantDb) => rolesAsProjects(t).execute();
      await withoutExplicitFilterCheck('rlsBackstop', () =>
        counted.withTenant(placed, read, { mode: 'read' }),
      );
      syncs = 0;
      for (let i = 0; i < 3; i++) {
        await withoutExplicitFilterCheck('rlsBackstop', () =>
          counted.withTenant(placed, read, { mode: 'read' }),
        );
      }
      // Qualified, `"t_…"."projects"."name"` names no FROM item (42P01): the fallback re-sends it under the
      // search path, every time (the rejected text stays remembered as the read's qualified form).
      expect(syncs).toBe(3);
    } finally {
      await counted.close();
    }
  });

  // the list leaves partitions out, so a partition named in a read resolves to public's.
  it("a held table's partition read by name resolves to the schema's partition, as under the search path", async () => {
    const part = (
      await admin.query<{ relname: string }>(
        `select c.relname::text as relname from "${schema}".usage_events e
           join pg_catalog.pg_class c on c.oid = e.tableoid where e.id = 'e1'`,
      )
    ).rows[0]!.relname;
    const q = (compileOnly as unknown as AnyDb)
      .selectFrom(part)
      .select('id')
      .where('organization_id', '=', placed)
      .compile();
    const got = await equivalence(q);
    expect(got.searchPath).toEqual({ rows: [{ id: 'e1' }] });
    expect(got.qualified).toEqual(got.searchPath);
  });

  // the qualified prelude carries the setter's organization and skips `prelude()`, whose
  // tenant check is the guard against a handle used for another tenant (a wiring or cache-key mistake).
  it("a qualified read keeps the setter's guard: a scope of another tenant on the organization's handle is refused", async () => {
    const handle = await tenancy.router.resolve(placed);
    const wrongRouter: PlacementRouter = {
      cached: () => handle,
      resolve: () => Promise.resolve(handle),
      invalidate: () => undefined,
    };
    const misrouted = createWithTenant(wrongRouter);
    const read = (t: TenantDb) => t.selectFrom('projects').select('name').orderBy('name').execute();
    // The search path form refuses (TENANT_SCOPE_CONFLICT); so must the qualified one, which instead
    // returns the placed organization's rows to a scope of `other`.
    await expect(
      withoutExplicitFilterCheck('rlsBackstop', () => misrouted(other, read, { mode: 'write' })),
    ).rejects.toMatchObject({ code: 'TENANT_SCOPE_CONFLICT' });
    await expect(
      withoutExplicitFilterCheck('rlsBackstop', () => misrouted(other, read, { mode: 'read' })),
    ).rejects.toMatchObject({ code: 'TENANT_SCOPE_CONFLICT' });
  });

  // a read naming none of the schema's tables is "qualified" to its own text and named in the
  // schema's namespace: the statement a write scope prepared under `"t_…", public` is bound without the
  // path, and PostgreSQL parses and plans it again at every switch of path (what the namespaces avoid).
  // Not through PgBouncer: with DB_STATEMENT_CACHE=off there are no named statements to count.
  it.skipIf(viaPgBouncer)(
    "a read naming none of the schema's tables does not share a prepared statement with the write scope's search-path form",
    async () => {
      const read = (t: TenantDb) =>
        t.selectFrom('organizations').select('name').where('id', '=', placed).executeTakeFirst();
      const text = compileOnly
        .selectFrom('organizations')
        .select('name')
        .where('id', '=', placed)
        .compile().sql;
      for (let i = 0; i < 3; i++) {
        await tenancy.withTenant(placed, read, { mode: 'write' });
        await tenancy.withTenant(placed, read, { mode: 'read' });
      }
      const prepared = await tenancy.withTenant(
        placed,
        async (t) =>
          (
            await sql<{
              name: string;
            }>`select name from pg_prepared_statements where statement = ${text}`.execute(t)
          ).rows,
        { mode: 'read' },
      );
      expect(prepared.length).toBeGreaterThanOrEqual(2);
    },
  );

  // Checked and sound (passes): two schema organizations and a pooled one, qualified reads, search-path
  // reads and writes interleaved on shared server connections of a PgBouncer in transaction mode with
  // DB_STATEMENT_CACHE=off: every read sees its own organization's rows only.
  it('sound: through PgBouncer (transaction mode, statement cache off) qualified reads of two schemas and a pooled organization interleave without crossing', async () => {
    const cacheWas = statementCacheEnabled();
    const bouncer = await startPgBouncer({ superuserUrl: testDb().superuserUrl, poolSize: 2 });
    setStatementCache(false);
    const via = createTenancy({ url: bouncer.via(db.url), poolSize: 6 });
    try {
      const names = (org: string, mode: 'read' | 'write') =>
        withoutExplicitFilterCheck('rlsBackstop', () =>
          via.withTenant(
            org,
            async (t) =>
              (await t.selectFrom('projects').select('projects.name').orderBy('projects.name').execute()).map(
                (r) => r.name,
              ),
            { mode },
          ),
        );
      const expected: Record<string, string[]> = {
        [placed]: ['alpha', 'beta'],
        [placed2]: ['gamma'],
        [other]: ['other-1'],
      };
      const runs: Promise<void>[] = [];
      for (let i = 0; i < 20; i++) {
        for (const org of [placed, placed2, other]) {
          runs.push(
            names(org, i % 3 === 0 ? 'write' : 'read').then((got) => {
              expect(got).toEqual(expected[org]);
            }),
          );
        }
      }
      await Promise.all(runs);
    } finally {
      await via.close();
      setStatementCache(cacheWas);
      await bouncer.stop();
    }
  });
});
