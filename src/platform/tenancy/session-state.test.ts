import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { uuidv7 } from '../ids.js';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import type { Tenancy } from './tenancy.js';
import type { TenantDb } from './tenant-database.js';
import { mayChangeSession } from './tenant-connection.js';

/**
 * Issue 8 item 5: a statement inside a withTenant scope that sets the tenant for the SESSION (not the
 * transaction) must not survive into the pool. With a pool of one connection, the next checkout and a
 * raw query on the pool see no tenant and no rows, whatever form the statement took.
 */
describe('session state changed inside a tenant scope does not reach the pool', () => {
  let tenancy: Tenancy;
  let orgA: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(1);
    orgA = await createTestOrg(tenancy, 'ss-a');
    await tenancy.withTenant(orgA, (db) =>
      db.insertInto('projects').values({ organization_id: orgA, id: uuidv7(), name: 'a-secret' }).execute(),
    );
  });
  afterAll(async () => {
    await tenancy.close();
  });

  const forms: Record<string, (db: TenantDb, org: string) => Promise<unknown>> = {
    'select set_config(…, false)': (db, org) =>
      sql`select set_config('app.tenant_id', ${org}, false)`.execute(db),
    'SET app.tenant_id': (db, org) => sql`set app.tenant_id = ${sql.lit(org)}`.execute(db),
    'a DO block': (db, org) =>
      sql`do $$ begin perform set_config('app.tenant_id', ${sql.lit(org)}, false); end $$`.execute(db),
    "Kysely eb.fn('set_config')": (db, org) =>
      db
        .selectNoFrom((eb) =>
          eb.fn<string>('set_config', [eb.val('app.tenant_id'), eb.val(org), eb.lit(false)]).as('x'),
        )
        .execute(),
    'PREPARE / EXECUTE': async (db, org) => {
      await sql`prepare sr_evil as select 1`.execute(db);
      await sql`set app.tenant_id = ${sql.lit(org)}`.execute(db);
      await sql`execute sr_evil`.execute(db);
    },
    'a Unicode-escaped identifier': (db, org) =>
      sql`select U&"set\\005fconfig"('app.tenant_id', ${org}, false)`.execute(db),
    'SQL run from text (query_to_xml)': (db, org) =>
      sql`select query_to_xml(${`select set_config('app.tenant_id', '${org}', false)`}, true, true, '')`.execute(
        db,
      ),
  };

  for (const [form, run] of Object.entries(forms)) {
    for (const mode of ['write', 'read'] as const) {
      it(`${form} (${mode} scope)`, async () => {
        await tenancy
          .withTenant(orgA, (db) => run(db, orgA), { mode })
          .catch((e: Error) => {
            // A read scope is read-only: SET is allowed there, PREPARE too; whatever failed changed nothing.
            if (mode === 'write') throw e;
          });
        const pool = tenancy.control.pool;
        const client = await pool.connect();
        try {
          const r = await client.query<{ t: string | null; n: number }>(
            `select app_current_tenant()::text as t, (select count(*)::int from projects) as n`,
          );
          expect(r.rows[0]).toEqual({ t: null, n: 0 });
        } finally {
          client.release();
        }
        const raw = await pool.query<{ n: number }>('select count(*)::int as n from projects');
        expect(raw.rows[0]!.n).toBe(0);
        // The scope itself still works on the (new) connection.
        const seen = await tenancy.withTenant(orgA, (db) => db.selectFrom('projects').select('id').execute());
        expect(seen).toHaveLength(1);
      });
    }
  }

  it('ordinary Kysely statements are not flagged (the normal path keeps its pooled connection)', () => {
    expect(mayChangeSession('select "id", "name" from "projects" where "organization_id" = $1')).toBe(false);
    expect(mayChangeSession('update "projects" set "name" = $1 where "id" = $2')).toBe(false);
    expect(mayChangeSession('insert into "audit_events" ("seq") values ($1)')).toBe(false);
    expect(mayChangeSession('with x as (select 1) select * from x')).toBe(false);
    expect(mayChangeSession('/* c */ SET app.tenant_id = 1')).toBe(true);
    expect(mayChangeSession('  -- c\n reset all')).toBe(true);
  });
});
