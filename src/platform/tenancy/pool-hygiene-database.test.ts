import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { uncheckedTest } from './explicit-filters.js';
import fc from 'fast-check';
import { sql } from 'kysely';
import { uuidv7 } from '../ids.js';
import { connect, createTestOrg, TENANT_SETTERS } from '../../../test/support/tenancy.js';
import { kindDatabase, type KindDatabase } from '../../../test/support/placement-kinds.js';
import { placeInDatabase } from '../../../test/support/placements.js';
import { expectPoolClean } from './pool-hygiene.test-support.js';
import { createTenancy, type Tenancy } from './tenancy.js';
import { scopeStorage, type TenantDb } from './tenant-database.js';
import type { TenantSetterKind } from './tenant-setters.js';

/** The key the tenant database is configured under here. */
const KEY = 'ph';

/**
 * Pool hygiene for `database` placements (issue 13; pool-hygiene.test.ts holds `pooled` and `schema`):
 * four of five tenants in a tenant database (the run's shared `tenant` database), their directory in the
 * control database (the shared `placements` database, as the cross-tenant test's database variants), the
 * fifth pooled there. Their scopes are split (split-connection.ts): a connection of the tenant database's
 * pool, and from their first directory statement one of the control database's pool, which they share
 * with the pooled tenant's scopes. Many concurrent scopes for random tenants over pools of 3 read their
 * placed rows and their directory row, some write both databases (two-phase commit), some fail on either
 * side: no call sees another tenant on either database, and every connection of BOTH pools comes back
 * clean (`expectPoolClean`, the pooled variant's checks), with nothing left prepared. Then one scope of
 * each kind of ending, both pools checked after each. Under each tenant setter (on both databases), the
 * same organizations and rows for both.
 */
describe('pool hygiene (property), database', () => {
  const TENANTS = 5;
  let control: KindDatabase;
  let tenantDb: KindDatabase;
  const tenancies = {} as Record<TenantSetterKind, Tenancy>;
  let tenantAdmin: pg.Client;
  let controlAdmin: pg.Client;
  const orgs: string[] = [];
  const owned = new Map<string, string>(); // project id -> org

  const open = (setter: TenantSetterKind): Tenancy =>
    createTenancy({
      url: control.db.url,
      poolSize: 3,
      setter,
      tenantDatabases: { databases: { [KEY]: { url: tenantDb.db.url } }, maxConnections: 3, poolSize: 3 },
    });

  beforeAll(async () => {
    [control, tenantDb] = await Promise.all([kindDatabase('schema'), kindDatabase('database')]);
    const first = open('pooled');
    for (let i = 0; i < TENANTS; i++) orgs.push(await createTestOrg(first, `phd${i}`));
    // Every tenant but the first in the tenant database, so the control database's connections also
    // alternate between a pooled tenant's scopes and split scopes' directory sides.
    for (const id of orgs.slice(1)) await placeInDatabase(control.db.adminUrl, tenantDb.db.adminUrl, KEY, id);
    await first.close();
    // Opened once the organizations are placed: their routers read the placements afresh.
    const tenancy = (tenancies.pooled = open('pooled'));
    tenancies.citus = open('citus');
    for (const org of orgs) {
      for (let j = 0; j < 3; j++) {
        const id = uuidv7();
        await tenancy.withTenant(org, (db) =>
          db
            .insertInto('projects')
            .values({ organization_id: org, id, name: `p${j}` })
            .execute(),
        );
        owned.set(id, org);
      }
    }
    tenantAdmin = await connect(tenantDb.db.adminUrl);
    controlAdmin = await connect(control.db.adminUrl);
  });
  afterAll(async () => {
    await tenantAdmin?.end();
    await controlAdmin?.end();
    await Promise.all(Object.values(tenancies).map((t) => t.close()));
  });

  const tenantPool = (tenancy: Tenancy) => tenancy.databases!.get(KEY)!.pool;
  /** The two-phase commits' ids of our organizations: `sr_tc_<org in 32 hex>_…`. */
  const ourGids = () => orgs.map((o) => `sr_tc_${o.replace(/-/g, '')}_%`);
  const preparedLeft = async () =>
    (
      await tenantAdmin.query<{ gid: string }>(
        'select gid from pg_prepared_xacts where database = current_database() and gid like any($1::text[])',
        [ourGids()],
      )
    ).rows.map((r) => r.gid);
  const commitsDecided = async () =>
    (
      await controlAdmin.query<{ n: number }>(
        `select count(*)::int as n from tenant_commit_decisions
          where database_key = $1 and outcome = 'commit' and gid like any($2::text[])`,
        [KEY, ourGids()],
      )
    ).rows[0]!.n;
  async function expectBothClean(tenancy: Tenancy, label: string): Promise<void> {
    await expectPoolClean(tenantPool(tenancy), `${label}: tenant database`);
    await expectPoolClean(tenancy.control.pool, `${label}: control database`);
    expect(await preparedLeft(), `${label}: prepared parts left`).toEqual([]);
  }

  /** Its placed rows (tenant database) and the tenant set there, then its directory row and the tenant
   *  set on the control database: all of its own, or a LEAK. `parallel`: the three statements at once
   *  (the control database's connection then taken while the tenant database's statements run). */
  async function readBoth(db: TenantDb, org: string, parallel = false): Promise<void> {
    const reads = [
      () => db.selectFrom('projects').select(['id', 'organization_id']).execute(),
      () => sql<{ t: string }>`select app_current_tenant()::text as t`.execute(db),
      // Names a directory table: the control database, whatever the placement.
      () =>
        sql<{
          id: string;
          t: string;
        }>`select id::text as id, app_current_tenant()::text as t from organizations`.execute(db),
    ] as const;
    const [rows, cur, dir] = parallel
      ? await Promise.all([reads[0](), reads[1](), reads[2]()])
      : [await reads[0](), await reads[1](), await reads[2]()];
    if (rows.length !== 3) throw new Error(`LEAK: ${org} saw ${rows.length} projects, not its 3`);
    for (const r of rows) {
      if (r.organization_id !== org || owned.get(r.id) !== org) throw new Error(`LEAK: ${org} saw ${r.id}`);
    }
    if (cur.rows[0]?.t !== org) throw new Error(`LEAK: tenant setting ${cur.rows[0]?.t} in scope of ${org}`);
    if (dir.rows.length !== 1 || dir.rows[0]!.id !== org || dir.rows[0]!.t !== org)
      throw new Error(`LEAK: ${org} saw ${JSON.stringify(dir.rows)} in the control database`);
  }

  /** Writes both databases, the control database first (every scope here takes the two in one order: a
   *  lock cycle across the two databases is seen by neither server). Changes nothing. */
  async function touchBoth(db: TenantDb, org: string): Promise<void> {
    await sql`update organizations set name = name where id = ${org}`.execute(db);
    await sql`update projects set name = name where organization_id = ${org}`.execute(db);
  }

  type Side = 'tenant' | 'control';
  /** An SQL error on one side: a statement naming a directory table runs on the control database. */
  const failOn = (db: TenantDb, side: Side) =>
    side === 'control'
      ? sql`select 1 / 0 as x from organizations`.execute(db)
      : sql`select 1 / 0 as x`.execute(db);

  type Op = {
    tenant: number;
    mode: 'read' | 'write';
    writeBoth: boolean;
    fail: Side | undefined;
    queries: number;
    yieldMs: number;
    /** Statements issued at once (Promise.all), the failing one among them. */
    parallel: boolean;
  };
  const op: fc.Arbitrary<Op> = fc.record({
    tenant: fc.integer({ min: 0, max: TENANTS - 1 }),
    mode: fc.constantFrom('read' as const, 'write' as const),
    writeBoth: fc.boolean(),
    fail: fc.constantFrom(undefined, 'tenant' as const, 'control' as const),
    queries: fc.integer({ min: 1, max: 3 }),
    yieldMs: fc.integer({ min: 0, max: 3 }),
    parallel: fc.boolean(),
  });

  async function run(tenancy: Tenancy, o: Op): Promise<void> {
    const org = orgs[o.tenant]!;
    const work = tenancy.withTenant(
      org,
      async (db) => {
        if (o.mode === 'write' && o.writeBoth) await touchBoth(db, org);
        // At once, first: the failing statement too, which may fail the scope while the control
        // database's connection is still being taken.
        if (o.parallel && o.fail && o.mode === 'write' && !o.writeBoth)
          await Promise.all([readBoth(db, org, true), failOn(db, o.fail)]);
        for (let q = 0; q < o.queries; q++) {
          await readBoth(db, org, o.parallel);
          if (o.yieldMs) await new Promise((r) => setTimeout(r, o.yieldMs));
        }
        if (o.fail) {
          // The write scope's transaction on that side aborted (and so the scope, both sides rolled
          // back). A read scope sometimes swallows it and reads on, on both sides: they must start clean.
          const failing = failOn(db, o.fail);
          if (o.mode === 'read' && o.queries === 2) {
            await failing.catch(() => undefined);
            await readBoth(db, org, o.parallel);
          } else if (o.parallel) await Promise.all([failing, readBoth(db, org, true)]);
          else await failing;
          throw new Error('expected failure');
        }
      },
      { mode: o.mode },
    );
    await work.catch((e: Error) => {
      if (e.message.startsWith('LEAK')) throw e;
      if (!o.fail) throw e;
    });
  }

  describe.each(TENANT_SETTERS)('%s setter', (setter) => {
    it('no call sees another tenant on either database, and both pools come back clean', async () => {
      uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
      const tenancy = tenancies[setter];
      const decided = await commitsDecided();
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
          await Promise.all(ops.map((o) => run(tenancy, o)));
        }),
        { numRuns: setter === 'pooled' ? 30 : 15 },
      );
      // The runs went through two-phase commits (not only one side per scope).
      expect(await commitsDecided()).toBeGreaterThan(decided);
      await expectBothClean(tenancy, 'after the property');
    });

    /** One scope of a placed tenant, ended each way a split scope can end. */
    const endings: Record<
      string,
      { mode: 'read' | 'write'; fails: boolean; fn: (db: TenantDb, org: string) => Promise<void> }
    > = {
      'a two-phase commit': { mode: 'write', fails: false, fn: (db, org) => touchBoth(db, org) },
      'a scope that threw after writing both databases': {
        mode: 'write',
        fails: true,
        fn: async (db, org) => {
          await touchBoth(db, org);
          throw new Error('expected failure');
        },
      },
      'an SQL error on the control database after writing both': {
        mode: 'write',
        fails: true,
        fn: async (db, org) => {
          await touchBoth(db, org);
          await failOn(db, 'control');
        },
      },
      'an SQL error on the tenant database after writing both': {
        mode: 'write',
        fails: true,
        fn: async (db, org) => {
          await touchBoth(db, org);
          await failOn(db, 'tenant');
        },
      },
      "the control database's COMMIT failing after the tenant database's PREPARE": {
        mode: 'write',
        fails: true,
        fn: async (db, org) => {
          await touchBoth(db, org);
          scopeStorage
            .getStore()!
            .deferUntilCommit(`update organizations set name = name where id = $1 and 1 / 0 = 1`, [org]);
        },
      },
      "the tenant database's PREPARE failing": {
        mode: 'write',
        fails: true,
        fn: async (db, org) => {
          await touchBoth(db, org);
          scopeStorage
            .getStore()!
            .deferUntilCommit(`update projects set name = name where organization_id = $1 and 1 / 0 = 1`, [
              org,
            ]);
        },
      },
      'a read scope that swallowed a failed read on each database, then ended normally': {
        mode: 'read',
        fails: false,
        fn: async (db, org) => {
          await failOn(db, 'tenant').catch(() => undefined);
          await failOn(db, 'control').catch(() => undefined);
          await readBoth(db, org);
        },
      },
      // Its directory read calls a function of ours (`app_current_tenant`), which counts as a write there.
      'a read scope whose last read failed on each database': {
        mode: 'read',
        fails: false,
        fn: async (db, org) => {
          await readBoth(db, org);
          await failOn(db, 'tenant').catch(() => undefined);
          await failOn(db, 'control').catch(() => undefined);
        },
      },
    };

    for (const [ending, { mode, fails, fn }] of Object.entries(endings)) {
      it(`both pools come back clean after ${ending}`, async () => {
        uncheckedTest('rlsBackstop'); // readBoth and the failing statements read without a filter on purpose
        const tenancy = tenancies[setter];
        const org = orgs[1]!;
        const decided = await commitsDecided();
        const scope = tenancy.withTenant(org, (db) => fn(db, org), { mode });
        if (fails) await expect(scope).rejects.toThrow();
        else await scope;
        expect(await commitsDecided()).toBe(ending === 'a two-phase commit' ? decided + 1 : decided);
        await expectBothClean(tenancy, ending);
        // And the next scopes of both kinds of tenant run as usual on those connections.
        for (const o of orgs.slice(0, 2)) await tenancy.withTenant(o, (db) => readBoth(db, o));
      });
    }
  });
});
