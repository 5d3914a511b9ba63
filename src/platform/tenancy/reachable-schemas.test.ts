import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, testDb } from '../../../test/support/tenancy.js';

/**
 * ISOLATION.md invariant 9: every schema the runtime role can reach is covered, not only `public`. The
 * catalog is read as the superuser, over EVERY schema but PostgreSQL's own: a schema the runtime role
 * may use must be declared here, and a relation it holds any privilege on must, if it has an
 * `organization_id` column, be under forced RLS (a view: `security_invoker`, so its tables' RLS applies).
 */
const RUNTIME_SCHEMAS = ['public'];
/** Plus the schema of every `schema` placement (an organization's placed tables, under the same RLS:
 *  src/platform/tenancy/placement-schema.ts), should a test have made one in this database. */
const PLACEMENT_SCHEMAS = `select app_tenant_schema_name(organization_id) as nspname from tenant_placements
  where kind = 'schema' and exists (select 1 from pg_namespace where nspname = app_tenant_schema_name(organization_id))`;
/** The worker role's schemas: graphile-worker's, and `worker_api` (the checkpoint scan, nothing else). */
const WORKER_SCHEMAS = ['graphile_worker', 'worker_api'];
const SYSTEM = `('pg_catalog', 'information_schema', 'pg_toast')`;

describe('schemas and relations the runtime role can reach', () => {
  let admin: pg.Client;
  const { runtime, worker } = testDb().roles;

  let runtimeSchemas: string[];

  beforeAll(async () => {
    admin = await connect(testDb().adminUrl);
    const placed = (await admin.query<{ nspname: string }>(PLACEMENT_SCHEMAS)).rows.map((r) => r.nspname);
    runtimeSchemas = [...RUNTIME_SCHEMAS, ...placed].sort();
  });
  afterAll(async () => {
    await admin.end();
  });

  const usableSchemas = async (role: string) =>
    (
      await admin.query<{ nspname: string }>(
        `select nspname from pg_namespace
          where nspname not in ${SYSTEM} and nspname not like 'pg_temp_%' and nspname not like 'pg_toast_temp_%'
            and (has_schema_privilege($1, oid, 'USAGE') or has_schema_privilege($1, oid, 'CREATE'))
          order by nspname`,
        [role],
      )
    ).rows.map((r) => r.nspname);

  it('uses only the declared schemas: graphile_worker (the job queue) is out of reach', async () => {
    expect(await usableSchemas(runtime)).toEqual(runtimeSchemas);
    expect(await usableSchemas(worker)).toEqual(WORKER_SCHEMAS);
  });

  it('holds privileges only on relations of declared schemas, and every tenant relation among them is under forced RLS', async () => {
    const rows = await admin.query<{
      schema: string;
      relname: string;
      relkind: string;
      rls: boolean;
      forced: boolean;
      invoker: boolean;
      tenant: boolean;
    }>(
      `select n.nspname as schema, c.relname, c.relkind::text as relkind,
              c.relrowsecurity as rls, c.relforcerowsecurity as forced,
              coalesce('security_invoker=true' = any(c.reloptions), false) as invoker,
              exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'organization_id'
                        and not a.attisdropped) as tenant
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname not in ${SYSTEM}
          and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and case when c.relkind = 'S'
                then has_sequence_privilege($1, c.oid, 'USAGE,SELECT,UPDATE')
                else has_table_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                  or has_any_column_privilege($1, c.oid, 'SELECT,INSERT,UPDATE,REFERENCES') end
        order by 1, 2`,
      [runtime],
    );
    expect(rows.rows.length).toBeGreaterThan(0);
    const outside = rows.rows.filter((r) => !runtimeSchemas.includes(r.schema));
    expect(outside.map((r) => `${r.schema}.${r.relname}`)).toEqual([]);
    const unprotected = rows.rows.filter(
      (r) =>
        r.tenant &&
        !((r.relkind === 'r' || r.relkind === 'p') && r.rls && r.forced) &&
        !(r.relkind === 'v' && r.invoker),
    );
    expect(unprotected.map((r) => `${r.schema}.${r.relname} (${r.relkind})`)).toEqual([]);
  });

  it('executes no function outside the declared schemas, and reaches the queue only through app_enqueue_job', async () => {
    const fns = await admin.query<{ schema: string; proname: string; definer: boolean }>(
      `select n.nspname as schema, p.proname, p.prosecdef as definer
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ${SYSTEM} and has_function_privilege($1, p.oid, 'EXECUTE')
        order by 1, 2`,
      [runtime],
    );
    expect(
      fns.rows.filter((f) => !RUNTIME_SCHEMAS.includes(f.schema)).map((f) => `${f.schema}.${f.proname}`),
    ).toEqual([]);
    const enqueue = fns.rows.filter((f) => f.proname === 'app_enqueue_job');
    expect(enqueue).toEqual([{ schema: 'public', proname: 'app_enqueue_job', definer: true }]);
    const owner = await admin.query<{ owner: string; public: boolean }>(
      `select pg_get_userbyid(p.proowner) as owner,
              coalesce(aclexplode.grantee = 0, false) as public
         from pg_proc p left join lateral aclexplode(p.proacl) on aclexplode.grantee = 0
        where p.proname = 'app_enqueue_job'`,
    );
    expect(owner.rows).toEqual([{ owner: testDb().roles.definer, public: false }]);
  });
});
