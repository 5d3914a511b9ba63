import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uncheckedTest } from './explicit-filters.js';
import { CompiledQuery, sql, type KyselyPlugin } from 'kysely';
import { uuidv7 } from '../ids.js';
import { createTestOrg, createTestTenancy, TENANT_SETTERS } from '../../../test/support/tenancy.js';
import type { Tenancy } from './tenancy.js';
import { TenancyError } from './errors.js';

// Under each tenant setter: plain PostgreSQL's set_config, and Citus's SET LOCAL (run here on PostgreSQL).
describe.each(TENANT_SETTERS)('withTenant, %s setter', (setter) => {
  let tenancy: Tenancy;
  let orgA: string;
  let orgB: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(2, setter);
    orgA = await createTestOrg(tenancy, 'wt-a');
    orgB = await createTestOrg(tenancy, 'wt-b');
  });
  afterAll(async () => {
    await tenancy.close();
  });

  const insertProject = (tenant: string, name: string) =>
    tenancy.withTenant(tenant, (db) =>
      db
        .insertInto('projects')
        .values({ organization_id: tenant, id: uuidv7(), name })
        .returning('id')
        .executeTakeFirstOrThrow(),
    );

  it('sets the tenant for the transaction, so RLS scopes every query', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what RLS does alone
    const { id } = await insertProject(orgA, 'alpha');
    const seenByA = await tenancy.withTenant(orgA, (db) => db.selectFrom('projects').select('id').execute(), {
      mode: 'read',
    });
    expect(seenByA.map((r) => r.id)).toContain(id);
    // Even without a filter, B's scope sees none of A's rows.
    const seenByB = await tenancy.withTenant(orgB, (db) => db.selectFrom('projects').select('id').execute(), {
      mode: 'read',
    });
    expect(seenByB.map((r) => r.id)).not.toContain(id);
  });

  it('refuses to write a row for another tenant (WITH CHECK)', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what RLS does alone
    await expect(
      tenancy.withTenant(orgB, (db) =>
        db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name: 'smuggled' }).execute(),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('cannot update or delete another tenant’s rows: zero rows affected', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what RLS does alone
    const { id } = await insertProject(orgA, 'beta');
    const result = await tenancy.withTenant(orgB, async (db) => {
      const u = await db
        .updateTable('projects')
        .set({ name: 'pwned' })
        .where('id', '=', id)
        .executeTakeFirst();
      const d = await db.deleteFrom('projects').where('id', '=', id).executeTakeFirst();
      return [u.numUpdatedRows, d.numDeletedRows];
    });
    expect(result).toEqual([0n, 0n]);
    const still = await tenancy.withTenant(orgA, (db) =>
      db.selectFrom('projects').select('name').where('id', '=', id).executeTakeFirst(),
    );
    expect(still?.name).toBe('beta');
  });

  it('commits on success and rolls back everything on error', async () => {
    const name = `rollback-${uuidv7()}`;
    await expect(
      tenancy.withTenant(orgA, async (db) => {
        await db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name }).execute();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const found = await tenancy.withTenant(orgA, (db) =>
      db
        .selectFrom('projects')
        .select('id')
        .where('organization_id', '=', orgA)
        .where('name', '=', name)
        .execute(),
    );
    expect(found).toEqual([]);
  });

  it('read scopes are read-only', async () => {
    await expect(
      tenancy.withTenant(
        orgA,
        (db) =>
          db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name: 'ro' }).execute(),
        { mode: 'read' },
      ),
    ).rejects.toThrow(/read-only transaction/);
  });

  it('nested calls for the same tenant reuse the transaction; another tenant is refused', async () => {
    await tenancy.withTenant(orgA, async (db) => {
      const outerPid = await sql<{
        pid: number;
        xid: string;
      }>`select pg_backend_pid() as pid, pg_current_xact_id()::text as xid`.execute(db);
      const inner = await tenancy.withTenant(orgA, (db2) =>
        sql<{
          pid: number;
          xid: string;
        }>`select pg_backend_pid() as pid, pg_current_xact_id()::text as xid`.execute(db2),
      );
      expect(inner.rows[0]).toEqual(outerPid.rows[0]);
      await expect(tenancy.withTenant(orgB, async () => 1)).rejects.toBeInstanceOf(TenancyError);
    });
  });

  it('the tenant is gone when the scope ends: the pooled connection carries nothing', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what RLS does alone
    // pool size 2: run a scope on each connection, then inspect both connections raw.
    await Promise.all([
      tenancy.withTenant(orgA, (db) => db.selectFrom('projects').select('id').execute()),
      tenancy.withTenant(orgB, (db) => db.selectFrom('projects').select('id').execute(), { mode: 'read' }),
    ]);
    const clients = await Promise.all([tenancy.control.pool.connect(), tenancy.control.pool.connect()]);
    try {
      for (const c of clients) {
        const r = await c.query<{ t: string | null; cur: string | null; ro: string; status: string }>(
          `select current_setting('app.tenant_id', true) as t, app_current_tenant()::text as cur,
                  current_setting('transaction_read_only') as ro, 'idle' as status`,
        );
        expect(r.rows[0]?.cur).toBeNull();
        expect(r.rows[0]?.t ?? '').toBe('');
        expect(r.rows[0]?.ro).toBe('off');
        const n = await c.query('select count(*)::int as n from projects');
        expect(n.rows[0]).toEqual({ n: 0 });
      }
    } finally {
      clients.forEach((c) => c.release());
    }
  });

  it('rejects a tenant id that is not a canonical UUID, before touching the database', async () => {
    for (const bad of ['', 'x', orgA.toUpperCase(), `${orgA}'; --`]) {
      await expect(tenancy.withTenant(bad, async () => 1)).rejects.toMatchObject({
        code: 'INVALID_TENANT_ID',
      });
    }
  });

  it('a query outside any scope fails closed', async () => {
    await expect(tenancy.control.db.selectFrom('projects').selectAll().execute()).rejects.toMatchObject({
      code: 'NO_TENANT_CONTEXT',
    });
  });

  it('a query issued after its scope ended is refused', async () => {
    let leaked: (() => Promise<unknown>) | undefined;
    await tenancy.withTenant(orgA, async (db) => {
      leaked = () => db.selectFrom('projects').selectAll().execute();
    });
    await expect(leaked!()).rejects.toBeInstanceOf(Error);
  });

  it('prepared statements survive failures at parse and at execute time on the same connection', async () => {
    uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what RLS does alone
    const one = createTestTenancy(1, setter);
    try {
      const insert = (tenant: string, org: string, name: string) =>
        one.withTenant(tenant, (db) =>
          db.insertInto('projects').values({ organization_id: org, id: uuidv7(), name }).execute(),
        );
      for (let i = 0; i < 3; i++) {
        // Execute-time failure (WITH CHECK) of a statement that is already prepared on the connection.
        await expect(insert(orgB, orgA, `x${i}`)).rejects.toThrow(/row-level security/);
        await insert(orgA, orgA, `prep-ok-${i}-${uuidv7()}`);
        // Parse-time failure, first statement of the transaction and later in it.
        await expect(
          one.withTenant(orgA, (db) => sql`select nope_${sql.raw(String(i))}`.execute(db)),
        ).rejects.toThrow(/does not exist/);
        await expect(
          one.withTenant(orgA, async (db) => {
            await sql`select 1`.execute(db);
            await sql`select from no_such_table`.execute(db);
          }),
        ).rejects.toThrow(/does not exist/);
      }
      const rows = await one.withTenant(orgA, (db) => sql<{ one: number }>`select 1 as one`.execute(db));
      expect(rows.rows).toEqual([{ one: 1 }]);
    } finally {
      await one.close();
    }
  });

  it('a first write query that never reached the database (swallowed) lets nothing run without BEGIN and the tenant', async () => {
    // pg cannot convert a BigInt inside a JSON parameter: the query fails before anything is sent.
    const unsendable = sql`select ${{ n: 1n }}::jsonb as j`;
    const currentTenant = sql<{ t: string | null }>`select app_current_tenant() as t`;
    const seen: (string | null)[] = [];
    await expect(
      tenancy.withTenant(orgA, async (db) => {
        await unsendable.execute(db).catch(() => undefined);
        seen.push((await currentTenant.execute(db).catch(() => ({ rows: [{ t: 'refused' }] }))).rows[0]!.t);
      }),
    ).rejects.toMatchObject({ code: 'TRANSACTION_ROLLED_BACK' });
    // Issued together: the second waits for the first, then is refused too.
    await expect(
      tenancy.withTenant(orgA, async (db) => {
        const [, second] = await Promise.allSettled([unsendable.execute(db), currentTenant.execute(db)]);
        seen.push(second.status === 'fulfilled' ? second.value.rows[0]!.t : 'refused');
      }),
    ).rejects.toMatchObject({ code: 'TRANSACTION_ROLLED_BACK' });
    expect(seen).toEqual(['refused', 'refused']);
    // The connections are fine afterwards.
    const t = await tenancy.withTenant(orgA, async (db) => (await currentTenant.execute(db)).rows[0]!.t);
    expect(t).toBe(orgA);
  });

  it('a statement error swallowed inside a write scope is reported: the commit did not happen', async () => {
    const name = `swallowed-${uuidv7()}`;
    await expect(
      tenancy.withTenant(orgA, async (db) => {
        await db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name }).execute();
        await sql`select 1/0`.execute(db).catch(() => undefined);
      }),
    ).rejects.toMatchObject({ code: 'TRANSACTION_ROLLED_BACK' });
    const found = await tenancy.withTenant(orgA, (db) =>
      db
        .selectFrom('projects')
        .select('id')
        .where('organization_id', '=', orgA)
        .where('name', '=', name)
        .execute(),
    );
    expect(found).toEqual([]);
  });

  it('an SQL error mid-transaction rolls back and the connection is reusable', async () => {
    await expect(
      tenancy.withTenant(orgA, async (db) => {
        await sql`select 1/0`.execute(db);
      }),
    ).rejects.toThrow(/division by zero/);
    const ok = await tenancy.withTenant(orgA, (db) => sql<{ one: number }>`select 1 as one`.execute(db));
    expect(ok.rows).toEqual([{ one: 1 }]);
  });

  it('a handle given a plugin still runs on the scope’s connection, and fails closed outside it', async () => {
    let transformed = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => args.node,
      transformResult: (args) => {
        transformed += 1;
        return Promise.resolve(args.result);
      },
    };
    const seen = await tenancy.withTenant(
      orgA,
      (db) => db.withPlugin(counting).selectFrom('organizations').select('id').execute(),
      { mode: 'read' },
    );
    expect(seen).toEqual([{ id: orgA }]);
    expect(transformed).toBe(1);
    await expect(
      tenancy.control.db.withPlugin(counting).selectFrom('projects').selectAll().execute(),
    ).rejects.toMatchObject({ code: 'NO_TENANT_CONTEXT' });
  });

  it('precompiled SQL runs in the scope, under the same tenant', async () => {
    const res = await tenancy.withTenant(
      orgB,
      (db) => db.executeQuery<{ id: string }>(CompiledQuery.raw('select id from organizations', [])),
      { mode: 'read' },
    );
    expect(res.rows).toEqual([{ id: orgB }]);
    await expect(tenancy.control.db.executeQuery(CompiledQuery.raw('select 1', []))).rejects.toMatchObject({
      code: 'NO_TENANT_CONTEXT',
    });
  });

  it('a tenant’s placement is cached after its first scope (later scopes resolve it synchronously)', async () => {
    tenancy.router.invalidate(orgA);
    expect(tenancy.router.cached(orgA)).toBeUndefined();
    await tenancy.withTenant(orgA, async () => undefined, { mode: 'read' });
    expect(tenancy.router.cached(orgA)).toBe(tenancy.control);
  });
});
