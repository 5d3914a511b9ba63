import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';
import { testJwtKey } from '../tokens/tokens.test-support.js';
import { DIRECTORY_TABLES, tenantSchemaName } from '../../platform/tenancy/placed-tables.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { createAuditSigner, createAuditVerifier, type AuditVerifier } from '../../platform/audit/signing.js';
import { uuidv7 } from '../../platform/ids.js';
import { verifyOrganizationChain } from '../audit/audit-verification.js';
import type { PlacementMove } from './tenant-placement.service.js';
import { useMoveFixture } from './database-move-fixture.test-support.js';
import { freezeLatencies, moveLoad, placedRows } from './database-move.test-support.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const FREEZE_HOLD_MS = 900;

/**
 * Moves of a pooled (or schema-placed) organization into a tenant database (migration 0076): under load in both
 * organizations, every acknowledged write once in the target and nothing of the organization left in the
 * control database's placed tables; the usage events' aggregation (xid) and audit_pending's ids carried
 * over; the freeze's two-phase commit resumed after a crash between its two commits; every step resumable;
 * abort before the switch; refusals.
 */
describe('online moves into a tenant database', () => {
  const f = useMoveFixture('sr_dbmove');
  let verifier: AuditVerifier;

  const newOrg = (projects = 15) => f.newOrg('dbm', projects, { audit: 'dbm-test' });
  const projectIds = async (c: pg.Client, org: string) =>
    (
      await c.query<{ id: string }>('select id::text from public.projects where organization_id = $1', [org])
    ).rows.map((r) => r.id);

  beforeAll(async () => {
    verifier = createAuditVerifier([createAuditSigner(await testJwtKey()).publicKey]);
  });

  it('moves pooled → database:t1 under load: nothing lost, doubled or mixed, the other organization never waits', async () => {
    const org = await newOrg();
    const other = await newOrg(2);
    const load = moveLoad(f.tenancy, org, other);
    await sleep(300);
    const moves = f.engine({ settleMs: 250, duringFreeze: () => sleep(FREEZE_HOLD_MS) });
    const started = await moves.start(org, 'database:t1', 'test');
    expect(started).toMatchObject({ step: 'preparing', from: 'pooled', to: 'database', databaseKey: 't1' });
    const done = await moves.run(started.id).finally(async () => {
      await sleep(300);
      await load.stop();
    });
    expect(load.errors).toEqual([]);
    expect(load.halfPairs).toEqual([]);
    expect(done).toMatchObject({ step: 'done', to: 'database', databaseKey: 't1' });
    expect(await f.placement(org)).toEqual({ kind: 'database', database_key: 't1', state: 'active' });

    // Exactly once, in the target only (every placed table, from the catalog).
    const inTarget = await projectIds(f.split.tenantAdmin, org);
    expect(new Set(inTarget).size).toBe(inTarget.length);
    for (const id of load.acked) expect(inTarget, `acknowledged ${id}`).toContain(id);
    for (const id of load.deleted) expect(inTarget).not.toContain(id);
    expect(inTarget.length).toBe(load.acked.size + 15);
    expect(await placedRows(f.split.admin, org)).toEqual({});
    expect(await placedRows(f.split.tenantAdmin, other)).toEqual({});
    expect((await projectIds(f.split.admin, other)).length).toBe(load.otherAcked.size + 2);
    // Directory rows stay in the control database.
    expect(Object.keys(DIRECTORY_TABLES)).toContain('memberships');

    // The freeze: the moving organization's requests waited (then ran on the target), the other's did not.
    const waited = freezeLatencies(load, done.switchedAt!, FREEZE_HOLD_MS);
    expect(waited.org).toBeGreaterThanOrEqual(FREEZE_HOLD_MS / 2);
    expect(waited.other).toBeLessThan(FREEZE_HOLD_MS / 3);

    // The chain (sealed in the target: audit_pending carried over at the switch) verifies, with the move in it.
    const verified = await verifyOrganizationChain(f.tenancy.withTenant, verifier, org);
    expect(verified.valid).toBe(true);
    expect(await placedRows(f.split.admin, org)).toEqual({});
    expect(Object.keys(await placedRows(f.split.tenantAdmin, org))).toEqual(
      expect.arrayContaining(['audit_events', 'audit_chain_heads', 'projects']),
    );
    // Every audit event once: those pending at the freeze came over whole (new pending ids), none doubled.
    const actions = await f.split.tenantAdmin.query<{ action: string; n: number }>(
      `select action, count(*)::int as n from audit_events where organization_id = $1 group by 1 order by 1`,
      [org],
    );
    expect(actions.rows).toEqual([
      { action: 'organization.placement_moved', n: 1 },
      { action: 'project.created', n: 15 },
      { action: 'project.paired', n: load.pairsAcked.n },
    ]);
    const moved = await f.split.tenantAdmin.query(
      `select metadata from audit_events where organization_id = $1 and action = 'organization.placement_moved'`,
      [org],
    );
    expect(moved.rows).toHaveLength(1);
    expect(moved.rows[0]).toMatchObject({ metadata: { to: 'database:t1', from: 'pooled' } });
    // Not abortable once switched (moving back out is a move of its own: database-move-out.test.ts).
    await expect(moves.abort(done.id, 'test')).rejects.toMatchObject({ code: 'MOVE_NOT_ABORTABLE' });
    await expect(moves.start(org, 'database:t1', 'test')).rejects.toMatchObject({
      code: 'MOVE_ALREADY_PLACED',
    });
  }, 180_000);

  it('counts usage events once: aggregated ones stay counted, the others are aggregated by the target', async () => {
    const org = await newOrg(1);
    const { event, dayEvents, controlWorker, tenantWorker } = await f.usage(org);
    for (let i = 0; i < 3; i++) await event(f.split.admin);
    await drainAggregator(f.split.admin, controlWorker); // 3 counted in the control database
    await drainAggregator(f.split.tenantAdmin, tenantWorker); // the target's watermark past the copy's xids
    for (let i = 0; i < 2; i++) await event(f.split.admin); // 2 not counted yet
    const moves = f.engine();
    const m = await moves.run((await moves.start(org, 'database:t1', 'test')).id);
    expect(m.step).toBe('done');
    await drainAggregator(f.split.tenantAdmin, tenantWorker);
    expect(await dayEvents(f.split.tenantAdmin)).toBe('5');
    expect((await placedRows(f.split.tenantAdmin, org)).usage_events).toBe(5);
  }, 120_000);

  for (const crashAfter of ['copying', 'switching', 'cleaning', 'decision'] as const) {
    it(`resumes after a crash ${crashAfter === 'decision' ? 'between the two commits of the switch' : `once ${crashAfter} is recorded`}`, async () => {
      const org = await newOrg(12);
      const before = await projectIds(f.split.admin, org);
      const crashing = f.crashing(crashAfter);
      const started = await crashing.start(org, 'database:t1', 'test');
      await expect(crashing.run(started.id)).rejects.toThrow(/crash/);
      if (crashAfter === 'decision') {
        // Decided in the control database; the target's part still prepared until the move is resumed.
        expect(await f.placement(org)).toMatchObject({ kind: 'database', state: 'moving' });
        const prepared = await f.split.tenantAdmin.query('select gid from pg_prepared_xacts');
        expect(prepared.rows.map((r: { gid: string }) => r.gid)).toContain(
          `sr_mv_${started.id.replaceAll('-', '')}`,
        );
      }
      if (crashAfter === 'switching') {
        // A run that died inside the freeze after its PREPARE, before the control database decided: the
        // part it left (as the tenant database's owner role, as the engine prepares it) is rolled back first.
        const owner = await f.targetOwner.connect();
        try {
          await owner.query('begin');
          await owner.query(`prepare transaction 'sr_mv_${started.id.replaceAll('-', '')}'`);
        } finally {
          owner.release();
        }
      }
      const done = await f.engine().run(started.id);
      const left = await f.split.tenantAdmin.query('select gid from pg_prepared_xacts where gid = $1', [
        `sr_mv_${started.id.replaceAll('-', '')}`,
      ]);
      expect(left.rows).toEqual([]);
      expect(done.step).toBe('done');
      expect((await projectIds(f.split.tenantAdmin, org)).sort()).toEqual(before.sort());
      expect(await placedRows(f.split.admin, org)).toEqual({});
      expect(await f.placement(org)).toEqual({ kind: 'database', database_key: 't1', state: 'active' });
      expect((await verifyOrganizationChain(f.tenancy.withTenant, verifier, org)).valid).toBe(true);
      const n = await f.tenancy.withTenant(org, async (t) => {
        await t
          .insertInto('projects')
          .values({ organization_id: org, id: uuidv7(), name: 'after' })
          .execute();
        return (await t.selectFrom('projects').select('id').where('organization_id', '=', org).execute())
          .length;
      });
      expect(n).toBe(before.length + 1);
    }, 120_000);
  }

  it('aborts before the switch: the copy leaves the tenant database, the organization works where it was', async () => {
    const org = await newOrg(10);
    const crashing = f.engine({
      afterStep: (m: PlacementMove) => {
        if (m.step === 'switching') throw new Error('crash after the copy');
      },
    });
    const started = await crashing.start(org, 'database:t1', 'test');
    await expect(crashing.run(started.id)).rejects.toThrow(/crash/);
    expect((await placedRows(f.split.tenantAdmin, org)).projects).toBe(10);
    const aborted = await f.engine().abort(started.id, 'test');
    expect(aborted.step).toBe('aborted');
    expect(await placedRows(f.split.tenantAdmin, org)).toEqual({});
    expect(
      (await f.split.tenantAdmin.query('select 1 from organizations where id = $1', [org])).rowCount,
    ).toBe(0);
    expect((await placedRows(f.split.admin, org)).projects).toBe(10);
    expect(await f.placement(org)).toMatchObject({ kind: 'pooled', state: 'active' });
    await f.tenancy.withTenant(org, (t) =>
      t.insertInto('projects').values({ organization_id: org, id: uuidv7(), name: 'after' }).execute(),
    );
    expect((await placedRows(f.split.admin, org)).projects).toBe(11);
  }, 120_000);

  it("moves an organization from its own schema into a tenant database (a region's: its region recorded), and drops the schema", async () => {
    const org = await newOrg(9);
    await placeInSchema(f.split.control.adminUrl, f.split.control.migrationUrl, f.split.control.roles, org);
    f.tenancy.router.invalidate(org);
    const schema = tenantSchemaName(org);
    const before = (
      await f.split.admin.query<{ id: string }>(`select id::text from "${schema}".projects`)
    ).rows.map((r) => r.id);
    expect(before).toHaveLength(9);
    const region = async () =>
      (
        await f.split.admin.query<{ region: string | null }>(
          'select region from organizations where id = $1',
          [org],
        )
      ).rows[0]?.region;
    expect(await region()).toBeNull();
    // t1 is the database of region `eu` (REGIONS): the switch records it, as a creation in `eu` would.
    const moves = f.engine({ regionOf: (key) => (key === 't1' ? 'eu' : undefined) });
    const m = await moves.run((await moves.start(org, 'database:t1', 'test')).id);
    expect(m).toMatchObject({ step: 'done', from: 'schema', to: 'database' });
    expect(await region()).toBe('eu');
    expect((await projectIds(f.split.tenantAdmin, org)).sort()).toEqual(before.sort());
    expect(
      (await f.split.admin.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount,
    ).toBe(0);
    expect(await placedRows(f.split.admin, org)).toEqual({});
    expect(await f.placement(org)).toEqual({ kind: 'database', database_key: 't1', state: 'active' });
    expect((await verifyOrganizationChain(f.tenancy.withTenant, verifier, org)).valid).toBe(true);
  }, 120_000);

  it('refuses a database not configured with an owner URL, and another target while a move runs', async () => {
    const org = await newOrg(1);
    const moves = f.engine();
    await expect(moves.start(org, 'database:nowhere', 'test')).rejects.toMatchObject({
      code: 'MOVE_TARGET_UNSUPPORTED',
      status: 422,
    });
    const m = await moves.start(org, 'database:t1', 'test');
    expect((await moves.start(org, 'database:t1', 'test')).id).toBe(m.id);
    await expect(moves.start(org, 'schema', 'test')).rejects.toMatchObject({ code: 'MOVE_CONFLICT' });
    expect((await moves.abort(m.id, 'test')).step).toBe('aborted');
  }, 60_000);
});
