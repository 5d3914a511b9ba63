import { latestMigration } from '../src/platform/db/migrate.js';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { ProvisionedDatabase } from '../test/support/provision.js';
import { placeInSchema } from '../test/support/placements.js';
import { tenantSchemaName } from '../src/platform/tenancy/placed-tables.js';

/** What a seeded organization's placement row says (`none`: no row, which the router reads as pooled). */
export type SeededKind = 'none' | 'pooled' | 'schema' | 'database';

/** A project row of a seeded organization, as the read bench picks them. */
export interface SeededRow {
  readonly org: string;
  readonly id: string;
}

async function asAdmin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * The lookup bench's organizations, in bulk as the superuser: per 20 of them, 10 have no placement row,
 * 6 a `pooled` row, 3 a `schema` row and 1 a `database` row for `databaseKey`. A schema organization's
 * schema is created EMPTY and no row of theirs exists anywhere: the lookup only asks whether the schema
 * exists (`to_regnamespace`; without it the router refuses the organization, PLACEMENT_MISSING) and
 * builds the handle without touching its tables, so the lookup costs the same, and creating 1,500
 * schemas of ~25 tables each would take the run's whole time budget.
 */
export async function seedLookupOrgs(
  adminUrl: string,
  count: number,
  databaseKey: string,
): Promise<{ id: string; kind: SeededKind }[]> {
  return asAdmin(adminUrl, async (admin) => {
    const res = await admin.query<{ id: string; kind: SeededKind }>(
      `with orgs as (
         insert into organizations (id, slug, name, plan)
         select gen_random_uuid(), 'lookup-' || g, 'Lookup ' || g, 'enterprise' from generate_series(1, $1::int) g
         returning id, split_part(slug, '-', 2)::int % 20 as n
       ), k as (
         select id, case when n < 10 then 'none' when n < 16 then 'pooled' when n < 19 then 'schema'
                         else 'database' end as kind from orgs
       ), pl as (
         insert into tenant_placements (organization_id, kind, database_key, schema_version)
         select id, kind, case when kind = 'database' then $2 end, case when kind = 'schema' then $3 end
           from k where kind <> 'none'
       )
       select id, kind from k`,
      [count, databaseKey, latestMigration()],
    );
    const schemas = res.rows.filter((r) => r.kind === 'schema').map((r) => tenantSchemaName(r.id));
    for (let i = 0; i < schemas.length; i += 500) {
      await admin.query(
        schemas
          .slice(i, i + 500)
          .map((s) => `create schema "${s}";`)
          .join('\n'),
      );
    }
    await admin.query('analyze organizations, tenant_placements');
    return res.rows;
  });
}

/** Inserts organizations `ids` (and their placement row when `placement` is given) as the superuser. */
async function insertOrgs(
  admin: pg.Client,
  ids: readonly string[],
  prefix: string,
  placement?: { kind: 'pooled' | 'database'; databaseKey: string | null },
): Promise<void> {
  await admin.query(
    `insert into organizations (id, slug, name, plan)
     select id, $2 || '-' || n, $2 || ' ' || n, 'enterprise' from unnest($1::uuid[]) with ordinality t(id, n)`,
    [ids, prefix],
  );
  if (placement) {
    await admin.query(
      `insert into tenant_placements (organization_id, kind, database_key) select unnest($1::uuid[]), $2, $3`,
      [ids, placement.kind, placement.databaseKey],
    );
  }
}

/** `rows` projects per organization, as `seedProjects` (harness.ts) writes them. */
async function insertProjects(admin: pg.Client, ids: readonly string[], rows: number): Promise<SeededRow[]> {
  const res = await admin.query<SeededRow>(
    `insert into projects (organization_id, id, name, description)
     select o, gen_random_uuid(), 'project ' || r, 'benchmark row'
       from unnest($1::uuid[]) o, generate_series(1, $2::int) r
     returning organization_id as org, id`,
    [ids, rows],
  );
  return res.rows;
}

const newIds = (n: number) => Array.from({ length: n }, () => randomUUID());

/** `orgs` pooled organizations (a `pooled` placement row each) with `rows` projects each. */
export async function seedPooled(db: ProvisionedDatabase, orgs: number, rows: number): Promise<SeededRow[]> {
  const ids = newIds(orgs);
  return asAdmin(db.adminUrl, async (admin) => {
    await insertOrgs(admin, ids, 'pooled', { kind: 'pooled', databaseKey: null });
    const out = await insertProjects(admin, ids, rows);
    await admin.query('analyze');
    return out;
  });
}

/**
 * `orgs` organizations with `rows` projects each, seeded pooled and then each placed in its own schema
 * by the tests' offline move (test/support/placements.ts): the schema synchronized from `public`'s
 * catalog, the rows moved, the placement recorded. Analyzed afterwards, as the pooled ones are.
 */
export async function seedSchemaPlaced(
  db: ProvisionedDatabase,
  orgs: number,
  rows: number,
): Promise<SeededRow[]> {
  const ids = newIds(orgs);
  const out = await asAdmin(db.adminUrl, async (admin) => {
    await insertOrgs(admin, ids, 'schema', { kind: 'pooled', databaseKey: null });
    return insertProjects(admin, ids, rows);
  });
  for (const id of ids) await placeInSchema(db.adminUrl, db.migrationUrl, db.roles, id);
  await asAdmin(db.adminUrl, async (admin) => {
    const left = await admin.query<{ n: number }>(
      'select count(*)::int as n from public.projects where organization_id = any($1::uuid[])',
      [ids],
    );
    if (left.rows[0]!.n !== 0) throw new Error('schema-placed rows left in public');
    await admin.query('analyze');
  });
  return out;
}

/**
 * `orgs` organizations placed in the dedicated database `dedicated` under `databaseKey`: each recorded
 * in the control database (its organization and a `database` placement row, nothing else) and holding
 * its organization row and `rows` projects in `dedicated` only.
 */
export async function seedDatabasePlaced(
  control: ProvisionedDatabase,
  dedicated: ProvisionedDatabase,
  databaseKey: string,
  orgs: number,
  rows: number,
): Promise<SeededRow[]> {
  const ids = newIds(orgs);
  await asAdmin(control.adminUrl, (admin) =>
    insertOrgs(admin, ids, 'dedicated', { kind: 'database', databaseKey }),
  );
  return asAdmin(dedicated.adminUrl, async (admin) => {
    await insertOrgs(admin, ids, 'dedicated');
    const out = await insertProjects(admin, ids, rows);
    await admin.query('analyze');
    return out;
  });
}
