import { afterAll, beforeAll, describe, it } from 'vitest';
import { uncheckedTest } from './explicit-filters.js';
import fc from 'fast-check';
import { sql } from 'kysely';
import { uuidv7 } from '../ids.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { kindDatabase } from '../../../test/support/placement-kinds.js';
import { expectPoolClean } from './pool-hygiene.test-support.js';
import type { Tenancy } from './tenancy.js';
import type { TenantSetterKind } from './tenant-setters.js';

/**
 * Many concurrent withTenant calls for random tenants over a pool of 3 connections: no call ever sees a
 * row of another tenant, errors and rollbacks do not leak a tenant into the next user of a connection,
 * and every connection ends up idle with no tenant set, the default search path and no prepared statement
 * but the statement cache's (`expectPoolClean`). For each placement kind that shares connections between
 * tenants: `pooled` (the tenants in `public`), `schema` (four of the five each in its own schema: the same
 * connections switch search paths); `database` placements, whose scopes hold a connection of each of two
 * pools, in pool-hygiene-database.test.ts. Under
 * each tenant setter: plain PostgreSQL's, and Citus's (SET LOCAL in explicit transactions, each read its
 * own BEGIN READ ONLY … COMMIT in one pipeline: a failed read leaves a failed transaction block, which
 * must never reach the pool), the same organizations and rows for both.
 */
describe.each(['pooled', 'schema'] as const)('pool hygiene (property), %s', (kind) => {
  const TENANTS = 5;
  const tenancies = {} as Record<TenantSetterKind, Tenancy>;
  const orgs: string[] = [];
  const owned = new Map<string, string>(); // project id -> org

  beforeAll(async () => {
    const where = await kindDatabase(kind);
    const tenancy = (tenancies.pooled = where.tenancy(3, 'pooled'));
    for (let i = 0; i < TENANTS; i++) orgs.push(await createTestOrg(tenancy, `ph${i}`));
    // Schema: every tenant but the first in its own schema, so connections also alternate between a
    // pooled scope and schema scopes.
    await where.place(tenancy, ...orgs.slice(1));
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
    // Made once the organizations are placed: its router reads their placements afresh.
    tenancies.citus = where.tenancy(3, 'citus');
  });
  afterAll(async () => {
    await Promise.all(Object.values(tenancies).map((t) => t.close()));
  });

  type Op = { tenant: number; mode: 'read' | 'write'; fail: boolean; queries: number; yieldMs: number };
  const op: fc.Arbitrary<Op> = fc.record({
    tenant: fc.integer({ min: 0, max: TENANTS - 1 }),
    mode: fc.constantFrom('read' as const, 'write' as const),
    fail: fc.boolean(),
    queries: fc.integer({ min: 1, max: 3 }),
    yieldMs: fc.integer({ min: 0, max: 3 }),
  });

  async function run(tenancy: Tenancy, o: Op): Promise<void> {
    const org = orgs[o.tenant]!;
    const work = tenancy.withTenant(
      org,
      async (db) => {
        for (let q = 0; q < o.queries; q++) {
          const rows = await db.selectFrom('projects').select(['id', 'organization_id']).execute();
          // All three of its own: a search path left by another scope would show none of them.
          if (rows.length !== 3) throw new Error(`LEAK: ${org} saw ${rows.length} projects, not its 3`);
          for (const r of rows) {
            if (r.organization_id !== org || owned.get(r.id) !== org)
              throw new Error(`LEAK: ${org} saw ${r.id}`);
          }
          const cur = await sql<{ t: string }>`select app_current_tenant()::text as t`.execute(db);
          if (cur.rows[0]?.t !== org)
            throw new Error(`LEAK: tenant setting ${cur.rows[0]?.t} in scope of ${org}`);
          if (o.yieldMs) await new Promise((r) => setTimeout(r, o.yieldMs));
        }
        if (o.fail) {
          // An SQL error: the transaction aborted (the write scope's, a Citus read's own). A read scope
          // sometimes swallows it and reads on: that read must start clean (Citus: after a ROLLBACK).
          const failing = sql`select 1/0`.execute(db);
          if (o.mode === 'read' && o.queries === 2) {
            await failing.catch(() => undefined);
            const after = await db.selectFrom('projects').select('organization_id').execute();
            if (after.length !== 3 || after.some((r) => r.organization_id !== org))
              throw new Error(`LEAK: ${org} read ${after.length} projects after a failed read`);
          } else await failing;
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

  it.each([
    ['pooled', 40],
    ['citus', 20],
  ] as const)(
    'no call sees another tenant, and connections come back clean, %s setter',
    async (setter, numRuns) => {
      uncheckedTest('rlsBackstop'); // no explicit filter on purpose: it proves what the tenant setting does alone
      const tenancy = tenancies[setter];
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 40 }), async (ops) => {
          await Promise.all(ops.map((o) => run(tenancy, o)));
        }),
        { numRuns },
      );
      await expectPoolClean(tenancy.control.pool, `${kind}, ${setter} setter`);
    },
  );
});
