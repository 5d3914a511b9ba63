import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { uuidv7 } from '../ids.js';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from './tenancy.js';

/** Every table the runtime role can see that is tenant-scoped (organization_id, or organizations itself). */
async function tenantTables(admin: pg.Client): Promise<string[]> {
  const res = await admin.query<{ relname: string }>(
    `select distinct c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
     left join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
     where n.nspname = 'public' and c.relkind = 'r' and (a.attname is not null or c.relname = 'organizations')
     order by 1`,
  );
  return res.rows.map((r) => r.relname);
}

describe('fail closed and raw SQL as the runtime role (invariants 3 and 4)', () => {
  const db = testDb();
  let tenancy: Tenancy;
  let admin: pg.Client;
  let app: pg.Client;
  let orgA: string;
  let orgB: string;
  let tables: string[];

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    orgA = await createTestOrg(tenancy, 'fc-a');
    orgB = await createTestOrg(tenancy, 'fc-b');
    await tenancy.withTenant(orgA, (t) =>
      t.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name: 'a-secret' }).execute(),
    );
    admin = await connect(db.adminUrl);
    app = await connect(db.url);
    tables = await tenantTables(admin);
  });
  afterAll(async () => {
    await app.end();
    await admin.end();
    await tenancy.close();
  });

  it('with no tenant set, every tenant table returns zero rows', async () => {
    expect(tables.length).toBeGreaterThanOrEqual(4);
    for (const t of tables) {
      const res = await app.query<{ n: number }>(`select count(*)::int as n from ${t}`);
      expect({ t, n: res.rows[0]!.n }).toEqual({ t, n: 0 });
    }
  });

  it('with no tenant set, inserts are rejected', async () => {
    await expect(
      app.query(`insert into projects (organization_id, id, name) values ($1, $2, 'x')`, [orgA, uuidv7()]),
    ).rejects.toThrow(/row-level security/);
    await expect(
      app.query(`insert into organizations (id, slug, name) values ($1, 'no-tenant', 'x')`, [uuidv7()]),
    ).rejects.toThrow(/row-level security/);
    await expect(
      app.query(
        `insert into idempotency_keys (organization_id, scope, key, request_hash, response) values ($1,'s','k','h','{}')`,
        [orgA],
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('an empty tenant setting (what a pooled session reads after a local setting ends) means no rows, not an error', async () => {
    await app.query('begin');
    await app.query(`select set_config('app.tenant_id', '', true)`);
    const res = await app.query<{ n: number }>('select count(*)::int as n from projects');
    await app.query('commit');
    expect(res.rows[0]!.n).toBe(0);
  });

  it('raw SQL in tenant B cannot read, update or delete tenant A’s rows, even with an explicit filter', async () => {
    await app.query('begin');
    try {
      await app.query(`select set_config('app.tenant_id', $1, true)`, [orgB]);
      for (const t of tables) {
        const col = t === 'organizations' ? 'id' : 'organization_id';
        const read = await app.query<{ n: number }>(`select count(*)::int as n from ${t} where ${col} = $1`, [
          orgA,
        ]);
        expect({ t, n: read.rows[0]!.n }).toEqual({ t, n: 0 });
        await app.query('savepoint d');
        const del = await app.query(`delete from ${t} where ${col} = $1`, [orgA]).catch((e: Error) => e);
        await app.query('rollback to savepoint d');
        // Either refused outright (no DELETE grant) or zero rows: never a deleted row.
        if (del instanceof Error) expect(del.message).toMatch(/permission denied/);
        else expect({ t, deleted: del.rowCount }).toEqual({ t, deleted: 0 });
      }
      const upd = await app.query(`update projects set name = 'pwned' where organization_id = $1`, [orgA]);
      expect(upd.rowCount).toBe(0);
      const updOrg = await app.query(`update organizations set name = 'pwned' where id = $1`, [orgA]);
      expect(updOrg.rowCount).toBe(0);
      // Moving one's own row into another tenant is refused by WITH CHECK.
      await app.query(`savepoint s`);
      await app.query(`insert into projects (organization_id, id, name) values ($1, $2, 'b-own')`, [
        orgB,
        uuidv7(),
      ]);
      await expect(
        app.query(`update projects set organization_id = $1 where name = 'b-own'`, [orgA]),
      ).rejects.toThrow(/row-level security/);
      await app.query(`rollback to savepoint s`);
    } finally {
      await app.query('rollback');
    }
    const still = await admin.query<{ n: number }>(
      `select count(*)::int as n from projects where organization_id = $1`,
      [orgA],
    );
    expect(still.rows[0]!.n).toBe(1);
  });

  it('session-level SET of the tenant is not what the core does: after a scope the session has no tenant', async () => {
    const r = await app.query<{ t: string | null }>(`select current_setting('app.tenant_id', true) as t`);
    expect(r.rows[0]!.t ?? '').toBe('');
  });
});
