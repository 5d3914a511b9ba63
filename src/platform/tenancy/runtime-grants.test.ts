import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { kindDatabase, PLACEMENT_KINDS } from '../../../test/support/placement-kinds.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { RUNTIME_GRANTS } from '../db/runtime-grants.js';
import { placedTables } from './placed-tables.js';
import { onCitus } from '../../../test/support/citus.js';
import { citusPlan } from './citus-plan.js';
import { citusRuntimeGrants } from './citus-triggers.js';

/**
 * Every privilege the runtime role holds, read from the catalogs: granted to it or to PUBLIC, on the
 * database, schemas, tables, columns, sequences and functions outside the system schemas (PUBLIC's
 * EXECUTE on built-in functions aside). One line per object: `<kind> <name>: <privileges>`.
 */
export async function runtimeGrants(c: pg.Client, runtimeRole: string): Promise<string[]> {
  const res = await c.query<{ line: string }>(
    `with g as (select oid, 'runtime' as who from pg_roles where rolname = $1 union all select 0, 'PUBLIC'),
     sys as (select oid from pg_namespace where nspname in ('pg_catalog', 'information_schema')
             or nspname like 'pg\\_%'),
     p as (
       select 'database' as obj, a.privilege_type as priv, a.grantee
         from pg_database d, aclexplode(coalesce(d.datacl, acldefault('d'::"char", d.datdba))) a
        where d.datname = current_database()
       union all
       select 'schema ' || n.nspname, a.privilege_type, a.grantee
         from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a
        where n.oid not in (select oid from sys)
       union all
       select case c.relkind when 'S' then 'sequence ' else 'table ' end || c.oid::regclass::text,
              a.privilege_type, a.grantee
         from pg_class c, aclexplode(coalesce(c.relacl, acldefault((case c.relkind when 'S' then 's'
                                                                  else 'r' end)::"char", c.relowner))) a
        where c.relnamespace not in (select oid from sys) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
       union all
       select 'column ' || c.oid::regclass::text || '.' || att.attname, a.privilege_type, a.grantee
         from pg_attribute att join pg_class c on c.oid = att.attrelid, aclexplode(att.attacl) a
        where c.relnamespace not in (select oid from sys) and att.attnum > 0 and not att.attisdropped
       union all
       select 'function ' || pr.oid::regprocedure::text, a.privilege_type, a.grantee
         from pg_proc pr, aclexplode(coalesce(pr.proacl, acldefault('f'::"char", pr.proowner))) a
        where pr.pronamespace not in (select oid from sys)
     )
     select p.obj || ': ' || string_agg(p.priv || case g.who when 'PUBLIC' then ' (PUBLIC)' else '' end, ', '
                                        order by p.priv, g.who) as line
       from p join g on g.oid = p.grantee
      group by p.obj order by 1`,
    [runtimeRole],
  );
  return res.rows.map((r) => r.line);
}

const PLACEMENT = /^(\w+) (t_[0-9a-f]{32})([.:])/;

/**
 * Splits `runtimeGrants` lines into those of placement schemas (`t_<32 hex>`), each rewritten as
 * `<schema>: <the line as public's would read>`, and the rest; and gives what the placement schemas must
 * hold: for each, exactly public's USAGE and public's lines on the placed tables (`placed`).
 */
function placementGrants(
  lines: readonly string[],
  placed: readonly string[],
): { placements: string[]; expected: string[]; rest: string[] } {
  const placements: string[] = [];
  const rest: string[] = [];
  const schemas = new Set<string>();
  for (const line of lines) {
    const m = PLACEMENT.exec(line);
    if (!m) {
      rest.push(line);
      continue;
    }
    schemas.add(m[2]!);
    const asPublic = m[3] === ':' ? `${m[1]} public:` : `${m[1]} `;
    placements.push(`${m[2]}: ${asPublic}${line.slice(m[0].length)}`);
  }
  const onPlaced = rest.filter((l) => {
    const obj = /^(?:table|column|sequence) ([^.:]+)/.exec(l);
    return l.startsWith('schema public:') || (obj !== null && placed.includes(obj[1]!));
  });
  const expected = [...schemas].flatMap((s) => onPlaced.map((l) => `${s}: ${l}`));
  return { placements: placements.sort(), expected: expected.sort(), rest };
}

/**
 * For each placement kind: the suite's database (`pooled`), a control database with schema placements
 * (`schema`: every placement schema grants the runtime role exactly what public does on the placed tables)
 * and a dedicated tenant database (`database`: its runtime role holds no more than in the control one).
 */
describe.each(PLACEMENT_KINDS)('the runtime role holds exactly the declared privileges, %s', (kind) => {
  let db: ProvisionedDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    db = (await kindDatabase(kind)).db;
    admin = await connect(db.adminUrl);
  });
  afterAll(async () => {
    await admin?.end();
  });

  it("no undeclared grant, no declared grant missing (a placement schema: exactly public's on the placed tables)", async () => {
    const { placements, expected, rest } = placementGrants(
      await runtimeGrants(admin, db.roles.runtime),
      await placedTables(admin),
    );
    // On Citus, `citus distribute` replaced audit_pending's insert trigger by column grants (docs/citus.md).
    const declared = (await onCitus(db.adminUrl)) ? citusRuntimeGrants(RUNTIME_GRANTS) : RUNTIME_GRANTS;
    expect(rest).toEqual([...declared].sort());
    expect(placements).toEqual(expected);
    if (kind === 'schema') expect(placements.length).toBeGreaterThan(20);
    // The suite's own database may hold the schema of an organization another file moved there through the
    // app (the console's and the platform routes' move tests): checked like any other, exactly public's.
    else if (kind === 'database') expect(placements).toEqual([]);
  });

  it('the runtime role cannot make itself a platform administrator', async () => {
    const app = await connect(db.url);
    try {
      await expect(app.query('update users set is_platform_admin = true')).rejects.toThrow(
        /permission denied/,
      );
      await expect(
        app.query(
          `insert into users (id, email, email_normalized, is_platform_admin)
           values (gen_random_uuid(), 'x@example.test', 'x@example.test', true)`,
        ),
      ).rejects.toThrow(/permission denied/);
    } finally {
      await app.end();
    }
  });
});

describe("the runtime role's grants once `citus distribute` replaced the triggers (checked on PostgreSQL, rolled back)", () => {
  it('are the declared ones with audit_pending INSERT on every column but pending_id', async () => {
    if (await onCitus(testDb().adminUrl)) return; // there, the test above checks them as they are
    // A database of its own: the plan's trigger steps take exclusive locks on most tables until the
    // rollback, which in the suite's shared database deadlocked with other files' requests.
    const own = await provisionDatabase(testDb().superuserUrl, 'sr_citus_grants');
    const admin = await connect(own.adminUrl);
    try {
      await admin.query('begin');
      const plan = await citusPlan(admin, own.roles);
      for (const step of plan.steps.filter((s) => s.kind === 'trigger')) {
        for (const stmt of step.sql) await admin.query(stmt);
      }
      const { rest } = placementGrants(await runtimeGrants(admin, own.roles.runtime), []);
      expect(rest).toEqual(citusRuntimeGrants(RUNTIME_GRANTS).sort());
    } finally {
      await admin.query('rollback');
      await admin.end();
      await dropProvisioned(own);
    }
  });
});

describe('the grants check fails on a grant nobody declared', () => {
  const db = testDb();
  let owner: pg.Client;

  beforeAll(async () => {
    owner = await connect(db.migrationUrl);
  });
  afterAll(async () => {
    await owner.end();
  });

  it('a grant nobody declared fails it (throwaway, rolled back)', async () => {
    await owner.query('begin');
    try {
      await owner.query(`grant update (is_platform_admin) on users to "${db.roles.runtime}"`);
      await owner.query(`grant truncate on projects to "${db.roles.runtime}"`);
      // Placement schemas other files made in this shared database are checked by the per-kind test.
      const actual = (await runtimeGrants(owner, db.roles.runtime)).filter((l) => !PLACEMENT.test(l));
      const declared = new Set(RUNTIME_GRANTS);
      expect(actual.filter((l) => !declared.has(l))).toEqual([
        'column users.is_platform_admin: UPDATE',
        'table projects: DELETE, INSERT, SELECT, TRUNCATE, UPDATE',
      ]);
    } finally {
      await owner.query('rollback');
    }
  });

  it("a placement schema's grant that differs from public's fails it", () => {
    const s = `t_${'0'.repeat(32)}`;
    const lines = [
      'schema public: USAGE',
      'table projects: DELETE, INSERT, SELECT, UPDATE',
      'table users: SELECT',
      `schema ${s}: USAGE`,
      `table ${s}.projects: DELETE, INSERT, SELECT, TRUNCATE, UPDATE`,
    ];
    const { placements, expected, rest } = placementGrants(lines, ['projects']);
    expect(rest).toEqual(lines.slice(0, 3));
    expect(placements).toEqual([
      `${s}: schema public: USAGE`,
      `${s}: table projects: DELETE, INSERT, SELECT, TRUNCATE, UPDATE`,
    ]);
    expect(expected).toEqual([
      `${s}: schema public: USAGE`,
      `${s}: table projects: DELETE, INSERT, SELECT, UPDATE`,
    ]);
  });
});
