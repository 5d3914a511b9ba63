import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type CompiledQuery,
} from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database } from '../db/schema.js';
import { createReadQualifier } from './schema-qualifier.js';

/** Compiles only (no connection): the qualifier works on compiled statements. */
const db = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (k) => new PostgresIntrospector(k),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
const ORG = '0190a5a0-0000-7000-8000-000000000001';
const SCHEMA = 't_0190a5a0000070008000000000000001';

describe('createReadQualifier', () => {
  const qualify = createReadQualifier(SCHEMA, ['projects', 'roles', 'audit_events']);

  it("names the schema for the tables it holds, and only for them, keeping the statement's parameters", () => {
    const q = db
      .selectFrom('projects')
      .innerJoin('memberships', 'memberships.organization_id', 'projects.organization_id')
      .select(['projects.id', 'projects.name', 'memberships.user_id'])
      .where('projects.organization_id', '=', ORG)
      .where('projects.name', '=', 'x')
      .compile();
    expect(qualify(q)).toBe(
      `select "${SCHEMA}"."projects"."id", "${SCHEMA}"."projects"."name", "memberships"."user_id" ` +
        `from "${SCHEMA}"."projects" inner join "memberships" on "memberships"."organization_id" = ` +
        `"${SCHEMA}"."projects"."organization_id" where "${SCHEMA}"."projects"."organization_id" = $1 ` +
        `and "${SCHEMA}"."projects"."name" = $2`,
    );
    expect(q.parameters).toEqual([ORG, 'x']);
  });

  it('qualifies an aliased table and a subquery; leaves a name with a schema of its own alone', () => {
    const q = db
      .selectFrom('projects as p')
      .select('p.id')
      .where('p.organization_id', '=', ORG)
      .where((eb) =>
        eb.exists(eb.selectFrom('roles').select('roles.key').where('roles.organization_id', '=', ORG)),
      )
      .compile();
    expect(qualify(q)).toBe(
      `select "p"."id" from "${SCHEMA}"."projects" as "p" where "p"."organization_id" = $1 and exists ` +
        `(select "${SCHEMA}"."roles"."key" from "${SCHEMA}"."roles" where "${SCHEMA}"."roles"."organization_id" = $2)`,
    );
    const own = db.withSchema('public').selectFrom('projects').select('id').compile();
    expect(qualify(own)).toBe(own.sql);
  });

  it('allows built-in aggregates and functions that read no table', () => {
    const q = db
      .selectFrom('projects')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('name').as('last')])
      .where('organization_id', '=', ORG)
      .compile();
    expect(qualify(q)).toBe(
      `select count(*) as "n", max("name") as "last" from "${SCHEMA}"."projects" where "organization_id" = $1`,
    );
  });

  it('keeps the search path for what the text does not resolve: raw SQL, other functions, CTEs, writes', () => {
    const cases: CompiledQuery[] = [
      sql`select * from projects where organization_id = ${ORG}`.compile(db),
      db
        .selectFrom('projects')
        .select('id')
        .where(sql<boolean>`name <> ''`)
        .compile(),
      db
        .selectFrom('projects')
        .select((eb) => eb.fn<string>('app_something', ['id']).as('x'))
        .compile(),
      db
        .with('projects_2', (w) => w.selectFrom('projects').select('id'))
        .selectFrom('projects_2')
        .select('id')
        .compile(),
      db.insertInto('projects').values({ organization_id: ORG, id: ORG, name: 'n' }).compile(),
      db.updateTable('projects').set({ name: 'n' }).where('organization_id', '=', ORG).compile(),
      db.deleteFrom('projects').where('organization_id', '=', ORG).compile(),
    ];
    for (const c of cases) expect(qualify(c), c.sql).toBeUndefined();
  });

  it('keeps the search path when the tree is not what the text was compiled from', () => {
    const q = db.selectFrom('projects').select('id').compile();
    expect(qualify({ ...q, sql: `${q.sql} for update` })).toBeUndefined();
  });

  it('remembers each text: the same answer again, from the text alone', () => {
    const q = db.selectFrom('roles').select('key').where('organization_id', '=', ORG).compile();
    const first = qualify(q);
    expect(first).toBe(`select "key" from "${SCHEMA}"."roles" where "organization_id" = $1`);
    expect(qualify(q)).toBe(first);
  });
});
