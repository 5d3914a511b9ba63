import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { testMoveService } from '../../../test/support/placement-moves.js';
import { createTenancy, type Tenancy } from '../../platform/tenancy/tenancy.js';
import { tenantSchemaName } from '../../platform/tenancy/placed-tables.js';
import { uuidv7 } from '../../platform/ids.js';
import { recordAudit } from '../../platform/audit/record.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import { sealAudit } from '../../../test/support/audit.js';
import type { MoveStep, PlacementMove } from './tenant-placement.service.js';
import { newMoveOrg } from './database-move.test-support.js';

/** Resume after a crash between steps, abort before and after the switch, and what the freeze carries. */
describe('placement moves: resume, abort and the freeze', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  const pools: pg.Pool[] = [];

  const newOrg = () => newMoveOrg(tenancy, 'mv', 20);
  const engine = (crashAfter?: MoveStep) => {
    const made = testMoveService(db.migrationUrl, db.roles, [tenancy], {
      settleMs: 50,
      afterStep: (m: PlacementMove) => {
        if (m.step === crashAfter) throw new Error(`crash after ${m.step}`);
      },
    });
    pools.push(made.owner);
    return made.service;
  };
  const rows = async (nsp: string, org: string) =>
    (
      await admin.query<{ n: number }>(
        `select count(*)::int as n from "${nsp}".projects where organization_id = $1`,
        [org],
      )
    ).rows[0]!.n;
  const placement = async (org: string) =>
    (
      await admin.query<{ kind: string; state: string }>(
        'select kind, state from tenant_placements where organization_id = $1',
        [org],
      )
    ).rows[0];
  const names = (org: string) =>
    tenancy.withTenant(
      org,
      async (t) =>
        (await t.selectFrom('projects').select('name').where('organization_id', '=', org).execute()).length,
      {
        mode: 'read',
      },
    );
  const schemaExists = async (org: string) =>
    (await admin.query('select 1 from pg_namespace where nspname = $1', [tenantSchemaName(org)])).rowCount ===
    1;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_mvr');
    tenancy = createTenancy({ url: db.url, poolSize: 4, placementTtlMs: 50 });
    admin = await connect(db.adminUrl);
  });
  afterAll(async () => {
    for (const p of pools) {
      // Its connections close after end() returns: the databases' drop may terminate one first.
      p.on('error', () => {});
      await p.end();
    }
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  for (const step of ['copying', 'switching', 'cleaning'] as const) {
    it(`a crash after the ${step} step is recorded: re-running continues from it and ends the move`, async () => {
      const org = await newOrg();
      const crashing = engine(step);
      const m = await crashing.start(org, 'schema', 'test');
      await expect(crashing.run(m.id)).rejects.toThrow(`crash after ${step}`);
      expect((await crashing.get(m.id)).step).toBe(step);
      expect(await names(org)).toBe(20); // served meanwhile, from wherever its placement is
      const done = await engine().run(m.id);
      expect(done.step).toBe('done');
      expect(await rows(tenantSchemaName(org), org)).toBe(20);
      expect(await rows('public', org)).toBe(0);
      expect(await placement(org)).toEqual({ kind: 'schema', state: 'active' });
      expect(await names(org)).toBe(20);
    });
  }

  it('abort before the switch: the copy and the schema go, the organization stays pooled', async () => {
    const org = await newOrg();
    // Crashed once copied (the record says switching): the schema holds the copy.
    const m = await engine('switching').start(org, 'schema', 'test');
    await engine('switching')
      .run(m.id)
      .catch(() => {});
    expect(await schemaExists(org)).toBe(true);
    // The copy takes rows older than its snapshot horizon (xids are the cluster's: a transaction open in
    // another database holds the horizon back); newer ones are the switch's catch-up. So: some or all.
    expect(await rows(tenantSchemaName(org), org)).toBeLessThanOrEqual(20);
    const aborted = await engine().abort(m.id, 'test');
    expect(aborted.step).toBe('aborted');
    expect(await schemaExists(org)).toBe(false);
    expect(await rows('public', org)).toBe(20);
    expect(await placement(org)).toEqual({ kind: 'pooled', state: 'active' });
    expect(await names(org)).toBe(20);
  });

  it('abort after the switch: the organization moves back (a new move), nothing lost', async () => {
    const org = await newOrg();
    const first = await engine('switching').start(org, 'schema', 'test');
    await engine('switching')
      .run(first.id)
      .catch(() => {});
    expect((await engine().get(first.id)).step).toBe('switching');
    // Crash after the switch itself: the record says cleaning.
    await engine('cleaning')
      .run(first.id)
      .catch(() => {});
    expect((await engine().get(first.id)).step).toBe('cleaning');
    await tenancy.withTenant(org, (t) =>
      t.insertInto('projects').values({ organization_id: org, id: uuidv7(), name: 'after-switch' }).execute(),
    );
    const back = await engine().abort(first.id, 'test');
    expect(back).toMatchObject({ step: 'done', from: 'schema', to: 'pooled' });
    expect(back.id).not.toBe(first.id);
    expect((await engine().get(first.id)).step).toBe('aborted');
    expect(await rows('public', org)).toBe(21);
    expect(await schemaExists(org)).toBe(false);
    expect(await placement(org)).toEqual({ kind: 'pooled', state: 'active' });
    expect(await names(org)).toBe(21);
  });

  it('the freeze carries what changed after the last catch-up round: an insert, an update, a delete', async () => {
    const org = await newOrg();
    await tenancy.withTenant(org, (t) =>
      recordAudit(t, systemCtx(org, 'move-test'), {
        action: 'project.noted',
        target: { type: 'project', id: 'x' },
      }),
    );
    const ids = (
      await admin.query<{ id: string }>('select id from projects where organization_id = $1 order by id', [
        org,
      ])
    ).rows.map((r) => r.id);
    const added = uuidv7();
    const made = testMoveService(db.migrationUrl, db.roles, [tenancy], {
      settleMs: 50,
      // Moving: these take the guarded path and land in the source, after the rounds' last snapshot.
      beforeFreeze: async () => {
        await tenancy.withTenant(org, (t) =>
          t.deleteFrom('projects').where('organization_id', '=', org).where('id', '=', ids[0]!).execute(),
        );
        await tenancy.withTenant(org, (t) =>
          t
            .updateTable('projects')
            .set({ description: 'after the rounds' })
            .where('organization_id', '=', org)
            .where('id', '=', ids[1]!)
            .execute(),
        );
        await tenancy.withTenant(org, (t) =>
          t
            .insertInto('projects')
            .values({ organization_id: org, id: added, name: 'after the rounds' })
            .execute(),
        );
        // The sealer empties the source's pending audit events into its chain (the target still holds
        // the round's copy of them).
        expect(await sealAudit(tenancy.withTenant, org)).toBeGreaterThan(0);
      },
    });
    pools.push(made.owner);
    const done = await made.service.run((await made.service.start(org, 'schema', 'test')).id);
    expect(done.step).toBe('done');
    expect(done.progress.catch_up?.rounds).toBeGreaterThanOrEqual(1);
    // Under the lock: the update and the insert (what the last round's snapshot did not see); the
    // deletion found by the row counts. At least those two: the horizon is the last round's snapshot xmin,
    // and xids are the cluster's, so a transaction open in another database (another test file's) holds it
    // back and the freeze carries again, idempotently, rows the rounds had already copied.
    expect(done.counts?.projects?.rows).toBe(20);
    expect(done.counts?.projects?.delta).toBeGreaterThanOrEqual(2);
    expect(done.counts?.projects?.delta).toBeLessThanOrEqual(20);
    const there = await admin.query<{ id: string; description: string | null }>(
      `select id::text, description from "${tenantSchemaName(org)}".projects where organization_id = $1`,
      [org],
    );
    const byId = new Map(there.rows.map((r) => [r.id, r.description]));
    expect(byId.size).toBe(20);
    expect(byId.has(ids[0]!)).toBe(false);
    expect(byId.get(ids[1]!)).toBe('after the rounds');
    expect(byId.has(added)).toBe(true);
    expect(await rows('public', org)).toBe(0);
    const audit = await admin.query<{ pending: number; sealed: number }>(
      `select (select count(*)::int from "${tenantSchemaName(org)}".audit_pending where organization_id = $1
                and action <> 'organization.placement_moved') as pending,
              (select count(*)::int from "${tenantSchemaName(org)}".audit_events where organization_id = $1
                and action = 'project.noted') as sealed`,
      [org],
    );
    expect(audit.rows[0]).toEqual({ pending: 0, sealed: 1 });
  });

  it('the switch refuses unless every table was caught up under the lock in its transaction', async () => {
    const org = await newOrg();
    const m = await engine('switching').start(org, 'schema', 'test');
    await engine('switching')
      .run(m.id)
      .catch(() => {});
    const owner = pools.at(-1)!;
    const audit = JSON.stringify({ action: 'organization.placement_moved', target_id: org });
    const tables = JSON.stringify([{ name: 'projects', keys: ['id'] }]);
    // Before the freeze: one repeatable-read snapshot, or no catch-up.
    await expect(
      owner.query('select app_priv_placement_move_catch_up($1, $2, false, false)', [m.id, tables]),
    ).rejects.toThrow(/repeatable read/);
    const c = await owner.connect();
    try {
      await c.query('begin isolation level repeatable read');
      // A round that leaves a table of the schema out records no horizon.
      await expect(
        c.query('select app_priv_placement_move_catch_up($1, $2, false, false)', [m.id, tables]),
      ).rejects.toThrow(/was not verified by the catch-up/);
      await c.query('rollback');
      await c.query('begin');
      await expect(
        c.query('select app_priv_placement_move_switch($1, $2, $3)', [m.id, 'v', audit]),
      ).rejects.toThrow(/not caught up under the lock/);
      await c.query('rollback');
      await c.query('begin');
      await c.query('select app_priv_placement_move_catch_up($1, $2, true, false)', [m.id, tables]);
      await expect(
        c.query('select app_priv_placement_move_switch($1, $2, $3)', [m.id, 'v', audit]),
      ).rejects.toThrow(/not caught up under the lock/);
      await c.query('rollback');
    } finally {
      c.release();
    }
    expect((await engine().abort(m.id, 'test')).step).toBe('aborted');
    expect(await rows('public', org)).toBe(20);
  });

  it('the definer’s per-organization paths (the worker’s writes) wait out the freeze, then resolve the new placement', async () => {
    const org = await newOrg();
    const worker = await connect(db.adminUrl); // stands in for a worker function's transaction
    const waiting = async (pid: number) => {
      for (;;) {
        const r = await admin.query(
          `select 1 from pg_locks where pid = $1 and locktype = 'advisory' and not granted`,
          [pid],
        );
        if (r.rowCount) return;
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    let path: Promise<string> | undefined;
    let schemas: Promise<string[]> | undefined;
    const made = testMoveService(db.migrationUrl, db.roles, [tenancy], {
      settleMs: 50,
      duringFreeze: async () => {
        const pid = (await worker.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        path = worker
          .query<{ p: string }>('select app_placement_search_path($1) as p', [org])
          .then((r) => r.rows[0]!.p);
        await waiting(pid);
        const other = await connect(db.adminUrl);
        const pid2 = (await other.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        schemas = other
          .query<{ s: string }>('select s from app_placement_schemas() s')
          .then((r) => r.rows.map((x) => x.s))
          .finally(() => other.end());
        await waiting(pid2);
      },
    });
    pools.push(made.owner);
    try {
      const done = await made.service.run((await made.service.start(org, 'schema', 'test')).id);
      expect(done.step).toBe('done');
      expect(await path).toContain(tenantSchemaName(org));
      expect(await schemas).toContain(tenantSchemaName(org));
    } finally {
      await worker.end();
    }
  });

  it('refuses database and region targets, a second move to another target, and a move to where it is', async () => {
    const org = await newOrg();
    const e = engine();
    await expect(e.start(org, 'database' as never, 'test')).rejects.toMatchObject({
      code: 'MOVE_TARGET_UNSUPPORTED',
    });
    await expect(e.start(org, 'pooled', 'test')).rejects.toMatchObject({ code: 'MOVE_ALREADY_PLACED' });
    const m = await e.start(org, 'schema', 'test');
    expect((await e.start(org, 'schema', 'test')).id).toBe(m.id); // the same move, to resume
    await expect(e.start(org, 'pooled', 'test')).rejects.toMatchObject({ code: 'MOVE_CONFLICT' });
    await e.abort(m.id, 'test');
  });
});
