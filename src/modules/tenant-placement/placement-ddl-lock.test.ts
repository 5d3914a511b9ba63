import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { testMoveService } from '../../../test/support/placement-moves.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import { dropPlacementSchema, syncPlacementSchema } from '../../platform/tenancy/placement-schema.js';
import type { PlacementMoveService } from './tenant-placement.service.js';

/** Schemas the DDL loop synchronizes and drops during the moves (about 10 s alone). */
const MOVE_DDL_CYCLES = 20;
/** Schemas each of the three DDL loops synchronizes and drops in the DDL-only test (12 to 15 in all). */
const EACH_DDL_CYCLES = 4;

/**
 * Placement DDL (a fresh schema's synchronization: CREATE TABLE, foreign keys to public and within the
 * schema, triggers, policies; a schema's DROP) concurrently with another organization's online move
 * (copy, catch-up, switch, cleanup batches) and with other DDL: none may end in "deadlock detected".
 *
 * The cycle seen without the placement DDL lock (the 40P01's detail, and the locks each step holds in pg_locks): a copy
 * or catch-up batch of organization B upserting feature_flag_overrides rows checks their foreign keys one
 * after the other (RI triggers in creation order), taking ROW SHARE on public.users, then on
 * public.organizations, then on public.feature_flags. A DROP SCHEMA of another organization's schema (a
 * cleanup, an abort, a deletion) drops that schema's foreign keys and takes ACCESS EXCLUSIVE on the
 * referenced public tables in dependency order: public.organizations, then public.users, public.plans,
 * public.feature_flags. So:
 *   batch (B)   holds ROW SHARE on users,                 waits for ROW SHARE on organizations;
 *   DROP SCHEMA holds ACCESS EXCLUSIVE on organizations,  waits for ACCESS EXCLUSIVE on users.
 * A synchronization adding a fresh schema's foreign keys takes SHARE ROW EXCLUSIVE on organizations,
 * users, feature_flags, plans (that order) and holds them to its commit: it conflicts with a DROP the same
 * way (both begin with organizations, so this test did not see those two deadlock, but any later order
 * difference would). The fix (placement-schema.ts, PLACEMENT_DDL_LOCK_SQL): DDL exclusive, data steps
 * shared, each first in its transaction.
 */
describe('placement DDL against moves and other DDL', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let moves: PlacementMoveService;
  let movesOwner: pg.Pool;
  let owner: pg.Pool;
  let user: string;
  const flags: string[] = [];

  const newOrg = async (prefix: string) =>
    (
      await createBareOrganization(tenancy.withTenant, {
        slug: `${prefix}-${randomBytes(5).toString('hex')}`,
        name: prefix,
      })
    ).id;
  /** Rows whose foreign keys reference several public tables (users, organizations, feature_flags). */
  const seed = async (org: string) => {
    for (const key of flags) {
      await admin.query(
        `insert into public.feature_flag_overrides (organization_id, flag_key, value, updated_by_user_id)
         values ($1, $2, 'true', $3)`,
        [org, key, user],
      );
    }
    await tenancy.withTenant(org, (t) =>
      t.insertInto('projects').values({ organization_id: org, id: uuidv7(), name: 'p' }).execute(),
    );
  };
  const asOwner = async <T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const c = await owner.connect();
    try {
      return await fn(c);
    } finally {
      c.release();
    }
  };
  const sync = (org: string) => asOwner((c) => syncPlacementSchema(c, org, db.roles));
  const drop = (org: string) => asOwner((c) => dropPlacementSchema(c, org));

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_pddl');
    tenancy = createTenancy({ url: db.url, poolSize: 4, placementTtlMs: 50 });
    admin = await connect(db.adminUrl);
    const made = testMoveService(db.migrationUrl, db.roles, [tenancy], { settleMs: 60, batchSize: 2 });
    moves = made.service;
    movesOwner = made.owner;
    owner = new pg.Pool({ connectionString: db.migrationUrl, max: 8 });
    user = uuidv7();
    await admin.query(`insert into public.users (id, email, email_normalized) values ($1, $2, $2)`, [
      user,
      `${user}@example.test`,
    ]);
    for (let i = 0; i < 12; i++) {
      const key = `flag-${i}-${randomBytes(3).toString('hex')}`;
      flags.push(key);
      await admin.query(
        `insert into public.feature_flags (key, kind, default_value, off_value) values ($1, 'boolean', 'false', 'false')`,
        [key],
      );
    }
  });
  afterAll(async () => {
    await owner?.end();
    await movesOwner?.end();
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  /** Fresh schemas synchronized then dropped, over and over, until `stop()`; what failed is collected. */
  function ddlLoop(workers: number) {
    let running = true;
    const cycles = Array.from({ length: workers }, () => 0);
    const errors: Error[] = [];
    const loops = cycles.map(async (_, w) => {
      while (running) {
        const o = await newOrg('ddl');
        await sync(o).catch((e: Error) => errors.push(e));
        await drop(o).catch((e: Error) => errors.push(e));
        cycles[w]!++;
      }
    });
    return {
      errors,
      /** Schemas synchronized and dropped so far, by all the loops. */
      cycles: () => cycles.reduce((a, b) => a + b, 0),
      /** The fewest schemas any one loop has synchronized and dropped so far. */
      fewest: () => Math.min(...cycles),
      async stop() {
        running = false;
        await Promise.all(loops);
      },
    };
  }
  const deadlocks = (errors: unknown[]) =>
    errors.filter((e) => (e as { code?: string }).code === '40P01' || /deadlock/.test(String(e)));

  it("another organization's move (copy, catch-up, switch, cleanup) runs while schemas synchronize and drop", async () => {
    const b = await newOrg('moving');
    await seed(b);
    const ddl = ddlLoop(1);
    const failures: unknown[] = [];
    try {
      // Moves one way then the other, until at least one each way has run and the DDL loop has
      // synchronized and dropped MOVE_DDL_CYCLES schemas meanwhile: every data step (copy, catch-up,
      // switch, cleanup) meets the loop. With the placement DDL lock each of a move's transactions waits
      // out the DDL operation running, so the first two moves outlast those cycles (2 or 3 moves here);
      // without it a move takes about a second and the moves go on, each batch a new chance to meet a
      // DROP SCHEMA (40P01 after 5 to 15 moves here, in 3 runs of 3 with the lock taken out). A count of
      // moves instead (one each way) ran moves without the lock in about a second, through 2 to 6 DDL
      // cycles, and passed (5 runs of 5); a second DDL loop only made each move wait longer.
      for (let i = 0; i < 2 || ddl.cycles() < MOVE_DDL_CYCLES; i++) {
        const to = i % 2 === 0 ? 'schema' : 'pooled';
        const m = await moves.start(b, to, 'test');
        const done = await moves.run(m.id).catch((e: unknown) => {
          failures.push(e);
          return moves.get(m.id);
        });
        if (done.step !== 'done') {
          failures.push(new Error(`${to}: ${done.step} ${done.error ?? ''}`));
          break;
        }
      }
    } finally {
      await ddl.stop();
    }
    expect(deadlocks([...failures, ...ddl.errors])).toEqual([]);
    expect(failures).toEqual([]);
    expect(ddl.errors).toEqual([]);
  }, 300_000);

  it('schemas synchronize while others synchronize and drop', async () => {
    const ddl = ddlLoop(3);
    try {
      // Until each loop has synchronized and dropped EACH_DDL_CYCLES schemas while the other two ran, not
      // for a fixed time (8 s: 18 to 22 in all alone, and as few as the machine's load allowed).
      while (ddl.fewest() < EACH_DDL_CYCLES && ddl.errors.length === 0) {
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await ddl.stop();
    }
    expect(ddl.errors).toEqual([]);
  }, 300_000);
});
