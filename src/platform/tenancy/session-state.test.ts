import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uncheckedTest } from './explicit-filters.js';
import { sql } from 'kysely';
import { uuidv7 } from '../ids.js';
import { createTestOrg, createTestTenancy, TENANT_SETTERS } from '../../../test/support/tenancy.js';
import type { Tenancy } from './tenancy.js';
import type { TenantDb } from './tenant-database.js';
import { mayChangeSession } from './tenant-connection.js';

/**
 * Issue 8 item 5: a statement inside a withTenant scope that sets the tenant for the SESSION (not the
 * transaction) must not survive into the pool. With a pool of one connection, the next checkout and a
 * raw query on the pool see no tenant and no rows, whatever form the statement took. Under each tenant
 * setter (Citus: each read its own BEGIN READ ONLY … COMMIT, where a session SET would outlive it too).
 */
describe.each(TENANT_SETTERS)(
  'session state changed inside a tenant scope does not reach the pool, %s setter',
  (setter) => {
    let tenancy: Tenancy;
    let orgA: string;

    beforeAll(async () => {
      tenancy = createTestTenancy(1, setter);
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
          uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
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
          const seen = await tenancy.withTenant(orgA, (db) =>
            db.selectFrom('projects').select('id').execute(),
          );
          expect(seen).toHaveLength(1);
        });
      }
    }

    /** The outside review's forms (issue 8 review, findings 1-3). Whatever the statement answers (the
     *  runtime role may not UPDATE pg_settings, a read scope refuses writes), the next checkout and a raw
     *  pool query see no tenant, no rows, no read-only default and no advisory lock. */
    const reviewForms: Record<string, (org: string) => string> = {
      'a nested comment before SET': (org) => `/* /* */ x */ set app.tenant_id = '${org}'`,
      'a nested comment closing early': (org) => `/* /* */ */ set app.tenant_id = '${org}'`,
      'a nested comment before set_config': (org) =>
        `/* x /* y */ z */ select set_config('app.tenant_id', '${org}', false)`,
      'a leading semicolon': (org) => `; set app.tenant_id = '${org}'`,
      'empty statements and a line comment': (org) => `;; -- c\n ; set app.tenant_id = '${org}'`,
      'UPDATE pg_settings': (org) => `update pg_settings set setting = '${org}' where name = 'app.tenant_id'`,
      'UPDATE pg_catalog.pg_settings': (org) =>
        `update pg_catalog.pg_settings set setting = '${org}' where name = 'app.tenant_id'`,
      'UPDATE pg_settings in a CTE': (org) =>
        `with x as (update pg_settings set setting = '${org}' where name = 'app.tenant_id' returning 1) select 1`,
      'UPDATE pg_settings: default_transaction_read_only': () =>
        `update pg_settings set setting = 'on' where name = 'default_transaction_read_only'`,
      'a session advisory lock': () => `select pg_advisory_lock(424242)`,
      'a shared session advisory lock': () => `select pg_advisory_lock_shared(424243)`,
      'a tried session advisory lock': () => `select pg_try_advisory_lock(424244)`,
      'a tried shared session advisory lock': () => `select pg_try_advisory_lock_shared(424245)`,
    };

    for (const [form, text] of Object.entries(reviewForms)) {
      for (const mode of ['write', 'read'] as const) {
        it(`${form} (${mode} scope)`, async () => {
          const q = text(orgA);
          await tenancy.withTenant(orgA, (db) => sql.raw(q).execute(db), { mode }).catch(() => {});
          const pool = tenancy.control.pool;
          const r = await pool.query<{ t: string | null; n: number; ro: string; locks: number }>(
            `select app_current_tenant()::text as t, (select count(*)::int from projects) as n,
                  current_setting('default_transaction_read_only') as ro,
                  (select count(*)::int from pg_locks where locktype = 'advisory'
                     and pid = pg_backend_pid()) as locks`,
          );
          expect(r.rows[0]).toEqual({ t: null, n: 0, ro: 'off', locks: 0 });
          // Writes still work on the next checkout (no read-only default left behind).
          await tenancy.withTenant(orgA, (db) =>
            db
              .updateTable('projects')
              .set({ name: 'a-secret' })
              .where('organization_id', '=', orgA)
              .execute(),
          );
        });
      }
    }

    it('the runtime role may not UPDATE pg_settings (a session-level SET in disguise)', async () => {
      const r = await tenancy.control.pool.query<{ u: boolean }>(
        `select has_table_privilege('pg_catalog.pg_settings', 'UPDATE') as u`,
      );
      expect(r.rows[0]!.u).toBe(false);
    });

    it('the guard is an allowlist read by a lexer that nests comments', () => {
      for (const dirty of [
        '/* /* */ x */ set app.tenant_id = 1',
        '; set app.tenant_id = 1',
        '/* unterminated',
        '-- only a comment',
        '',
        'lock table projects',
        'copy projects to stdout',
        'explain select 1',
        'notify x',
        'select pg_advisory_lock(1)',
        'select pg_try_advisory_lock_shared(1)',
        'SELECT * FROM PG_SETTINGS',
      ]) {
        expect(mayChangeSession(dirty), dirty).toBe(true);
      }
      for (const clean of [
        '/* /* */ */ select 1',
        ';\n-- c\n/* a /* b */ c */ values (1)',
        'table projects',
        'merge into projects using x on true when matched then do nothing',
        'select pg_advisory_xact_lock(1)',
        'select pg_try_advisory_xact_lock_shared(1)',
        'delete from "projects" where "id" = $1',
      ]) {
        expect(mayChangeSession(clean), clean).toBe(false);
      }
    });

    it('ordinary Kysely statements are not flagged (the normal path keeps its pooled connection)', () => {
      expect(mayChangeSession('select "id", "name" from "projects" where "organization_id" = $1')).toBe(
        false,
      );
      expect(mayChangeSession('update "projects" set "name" = $1 where "id" = $2')).toBe(false);
      expect(mayChangeSession('insert into "audit_events" ("seq") values ($1)')).toBe(false);
      expect(mayChangeSession('with x as (select 1) select * from x')).toBe(false);
      expect(mayChangeSession('/* c */ SET app.tenant_id = 1')).toBe(true);
      expect(mayChangeSession('  -- c\n reset all')).toBe(true);
    });
  },
);
