/**
 * The fixture of the tests of moves into and out of a tenant database (imported by tests only): a control
 * database and a tenant database `t1` of the file's own (`openSplit`), with `second` a tenant database `t2`
 * too, a tenancy over them, the tenant databases' owner pools, and the move engine; everything closed and
 * dropped after the file.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { testMoveService } from '../../../test/support/placement-moves.js';
import { closeSplit, openSplit, type SplitDatabases } from '../../platform/tenancy/split.test-support.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import type { MoveStep, PlacementMoveDeps, PlacementMoveService } from './tenant-placement.service.js';
import { newMoveOrg } from './database-move.test-support.js';
import { uuidv7 } from '../../platform/ids.js';

export interface MoveFixture {
  readonly split: SplitDatabases;
  readonly tenancy: Tenancy;
  /** The tenant database's owner role (what the engine writes the target with). */
  readonly targetOwner: pg.Pool;
  /** With `second`: the tenant database `t2`, its superuser and its owner role's pool. */
  readonly t2: { readonly db: ProvisionedDatabase; readonly admin: pg.Client; readonly owner: pg.Pool };
  /** Pools a test opens: ended after the file. */
  readonly pools: pg.Pool[];
  /** The engine over the control database's owner role, moving into `t1` (settling for 50 ms). */
  engine(extra?: Partial<PlacementMoveDeps>): PlacementMoveService;
  /** The engine, its run crashing (a throw) once the step `after` is recorded, or, `decision`, between the
   *  control database's decision of the switch and the COMMIT of the prepared part. */
  crashing(after: MoveStep | 'decision'): PlacementMoveService;
  /** A pooled organization (slug `<prefix>-<random>`) with `projects` projects (`newMoveOrg`). */
  newOrg(prefix: string, projects?: number, opts?: { audit?: string }): Promise<string>;
  /** The same, moved into t1 (no load). */
  inT1(prefix: string, projects: number): Promise<string>;
  /** The organization's `tenant_placements` row. */
  placement(org: string): Promise<{ kind: string; database_key: string | null; state: string } | undefined>;
  /** A `count` meter of both databases, an usage event of `org` on it written by `event(c)`, the day's
   *  aggregated count of its events in the database of `c` (`dayEvents(c)`, as text), and both databases'
   *  worker pools (the aggregator's role; ended after the file). */
  usage(org: string): Promise<{
    readonly meter: string;
    readonly event: (c: pg.Client) => Promise<unknown>;
    readonly dayEvents: (c: pg.Client) => Promise<string | undefined>;
    readonly controlWorker: pg.Pool;
    readonly tenantWorker: pg.Pool;
  }>;
  /** A move to pooled out of t1, started and run until its copy is done (`switching` recorded), then left
   *  as a run killed inside the freeze leaves it: its record in t1 at `cleaning`, PREPARED (`sr_ms_`), no
   *  decision. Answers the move's id. */
  deadSourcePart(org: string): Promise<string>;
}

/** Registers the file's beforeAll/afterAll; the fixture's fields are there once beforeAll has run. */
export function useMoveFixture(label: string, opts: { second?: boolean } = {}): MoveFixture {
  let split: SplitDatabases | undefined;
  let tenancy: Tenancy | undefined;
  let targetOwner: pg.Pool | undefined;
  let t2: MoveFixture['t2'] | undefined;
  const pools: pg.Pool[] = [];
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('the move fixture is used before its beforeAll ran');
    return v;
  };
  beforeAll(async () => {
    const [opened, second] = await Promise.all([
      openSplit(label),
      opts.second
        ? provisionDatabase(testDb().superuserUrl, `${label}_t2`, { tenantDatabase: true })
        : undefined,
    ]);
    split = opened;
    if (second) {
      const owner = new pg.Pool({ connectionString: second.migrationUrl, max: 3 });
      owner.on('error', () => {});
      t2 = { db: second, admin: await connect(second.adminUrl), owner };
    }
    tenancy = createTenancy({
      url: split.control.url,
      poolSize: 10,
      placementTtlMs: 200,
      tenantDatabases: {
        databases: { t1: { url: split.tenant.url }, ...(second ? { t2: { url: second.url } } : {}) },
        maxConnections: 10,
      },
    });
    targetOwner = new pg.Pool({ connectionString: split.tenant.migrationUrl, max: 3 });
    targetOwner.on('error', () => {});
  }, 120_000);
  afterAll(async () => {
    for (const p of pools) {
      // Its connections close after end() returns: the databases' drop may terminate one first.
      p.on('error', () => {});
      await p.end();
    }
    await targetOwner?.end();
    await tenancy?.close();
    if (t2) {
      const left = await t2.admin.query<{ gid: string }>(
        'select gid from pg_prepared_xacts where database = current_database()',
      );
      for (const r of left.rows) await t2.admin.query(`rollback prepared '${r.gid}'`);
      await t2.admin.end();
      await t2.owner.end();
      await dropProvisioned(t2.db);
    }
    await closeSplit(split);
  });
  const fixture: MoveFixture = {
    get split() {
      return ready(split);
    },
    get tenancy() {
      return ready(tenancy);
    },
    get targetOwner() {
      return ready(targetOwner);
    },
    get t2() {
      return ready(t2);
    },
    pools,
    engine(extra = {}) {
      const made = testMoveService(
        ready(split).control.migrationUrl,
        ready(split).control.roles,
        [ready(tenancy)],
        {
          settleMs: 50,
          targetOwner: (key) => (key === 't1' ? targetOwner : key === 't2' ? t2?.owner : undefined),
          ...extra,
        },
      );
      pools.push(made.owner);
      return made.service;
    },
    crashing(after) {
      return fixture.engine({
        afterStep: (m) => {
          if (m.step === after) throw new Error(`crash after ${m.step}`);
        },
        afterDecision: () => {
          if (after === 'decision') throw new Error('crash after the decision');
        },
      });
    },
    newOrg(prefix, projects = 3, opts = {}) {
      return newMoveOrg(ready(tenancy), prefix, projects, opts);
    },
    async inT1(prefix, projects) {
      const org = await fixture.newOrg(prefix, projects);
      const moves = fixture.engine();
      const done = await moves.run((await moves.start(org, 'database:t1', 'test')).id);
      if (done.step !== 'done') throw new Error(`the move into t1 ended ${done.step}`);
      return org;
    },
    async placement(org) {
      const res = await ready(split).admin.query<{
        kind: string;
        database_key: string | null;
        state: string;
      }>('select kind, database_key, state from tenant_placements where organization_id = $1', [org]);
      return res.rows[0];
    },
    async usage(org) {
      const sp = ready(split);
      const meter = `m_${randomBytes(4).toString('hex')}`;
      for (const c of [sp.admin, sp.tenantAdmin]) {
        await c.query(`insert into meters (key, aggregation) values ($1, 'count')`, [meter]);
      }
      const event = (c: pg.Client) =>
        c.query(
          'insert into usage_events (organization_id, id, meter, occurred_at) values ($1, $2, $3, now())',
          [org, uuidv7(), meter],
        );
      const controlWorker = new pg.Pool({ connectionString: sp.control.workerUrl, max: 2 });
      const tenantWorker = new pg.Pool({ connectionString: sp.tenant.workerUrl, max: 2 });
      pools.push(controlWorker, tenantWorker);
      const dayEvents = async (c: pg.Client) =>
        (
          await c.query<{ events: string }>(
            `select sum(events)::text as events from usage_aggregates
              where organization_id = $1 and meter = $2 and granularity = 'day'`,
            [org, meter],
          )
        ).rows[0]?.events;
      return { meter, event, dayEvents, controlWorker, tenantWorker };
    },
    async deadSourcePart(org) {
      const crashing = fixture.engine({
        afterStep: (m) => {
          if (m.step === 'switching') throw new Error('crash after the copy');
        },
      });
      const id = (await crashing.start(org, 'pooled', 'test')).id;
      await crashing.run(id).catch(() => {});
      const run = (
        await ready(split).admin.query<{ run_no: number }>(
          'select run_no from placement_moves where id = $1',
          [id],
        )
      ).rows[0]!.run_no;
      const c = await ready(targetOwner).connect();
      try {
        const mirror = (step: string) =>
          c.query('select app_priv_placement_xmove_source_mirror($1, $2, $3, $4, $5, $6, $7)', [
            id,
            org,
            't1',
            'pooled',
            null,
            step,
            run,
          ]);
        await mirror('switching');
        await c.query('begin');
        await mirror('cleaning');
        await c.query(`prepare transaction 'sr_ms_${id.replaceAll('-', '')}'`);
      } finally {
        c.release();
      }
      return id;
    },
  };
  return fixture;
}
