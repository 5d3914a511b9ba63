import { sql, type CompiledQuery, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { compileOnly as db } from '../../../test/support/compile-only.js';
import { createReadQualifier } from './schema-qualifier.js';

const ORG = '0190a5a0-0000-7000-8000-000000000001';
const SCHEMA = 't_0190a5a0000070008000000000000001';

describe('createReadQualifier', () => {
  const qualifier = createReadQualifier(SCHEMA, ['projects', 'roles', 'audit_events', 'usage_events']);
  const qualify = (c: CompiledQuery) => qualifier.qualify(c);

  it("names the schema for the tables it holds, and only for them, keeping the statement's parameters", () => {
    const q = db
      .selectFrom('projects')
      .innerJoin('memberships', 'memberships.organization_id', 'projects.organization_id')
      .select(['projects.id', 'projects.name', 'memberships.user_id'])
      .where('projects.organization_id', '=', ORG)
      .where('projects.name', '=', 'x')
      .compile();
    // References name FROM items (an alias, maybe): they stay as written; only the FROM item is qualified.
    expect(qualify(q)).toBe(
      `select "projects"."id", "projects"."name", "memberships"."user_id" ` +
        `from "${SCHEMA}"."projects" inner join "memberships" on "memberships"."organization_id" = ` +
        `"projects"."organization_id" where "projects"."organization_id" = $1 and "projects"."name" = $2`,
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
        `(select "roles"."key" from "${SCHEMA}"."roles" where "roles"."organization_id" = $2)`,
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

  it("leaves an alias named as a held table alone: a derived table's, or another table's", () => {
    const derived = db
      .selectFrom((eb) => eb.selectFrom('roles').select('roles.key as name').as('projects'))
      .select('projects.name')
      .compile();
    expect(qualify(derived)).toBe(
      `select "projects"."name" from (select "roles"."key" as "name" from "${SCHEMA}"."roles") as "projects"`,
    );
  });

  it('answers a text naming none of its tables with the text itself (the same string)', () => {
    const q = db.selectFrom('organizations').select('name').where('id', '=', ORG).compile();
    expect(qualify(q)).toBe(q.sql);
  });

  it('keeps the search path for a name that could be a partition made after the list was read', () => {
    const q = (db as unknown as Kysely<Record<string, { id: string }>>)
      .selectFrom('usage_events_20990101')
      .select('id')
      .compile();
    expect(qualify(q)).toBeUndefined();
  });

  it('keeps the search path for a text the server refused qualified, and starts over past 2,000 texts', () => {
    const local = createReadQualifier(SCHEMA, ['projects']);
    const q = db.selectFrom('projects').select('id').where('organization_id', '=', ORG).compile();
    expect(local.qualify(q)).toBeDefined();
    local.refuse(q.sql);
    expect(local.qualify(q)).toBeUndefined();
    for (let n = 1; n <= 2_000; n++) {
      local.qualify(
        db
          .selectFrom('projects')
          .select((eb) => eb.ref('id').as(`a${n}`))
          .compile(),
      );
    }
    const fresh = db.selectFrom('projects').select('name').compile();
    expect(local.qualify(fresh)).toBe(`select "name" from "${SCHEMA}"."projects"`);
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
