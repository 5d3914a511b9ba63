import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { testJwtKey } from '../tokens/tokens.test-support.js';
import { tenantSchemaName } from '../../platform/tenancy/placed-tables.js';
import { createAuditSigner, createAuditVerifier, type AuditVerifier } from '../../platform/audit/signing.js';
import { uuidv7 } from '../../platform/ids.js';
import { drainAggregator } from '../../../test/support/usage-aggregator.js';
import { verifyOrganizationChain } from '../audit/audit-verification.js';
import { useMoveFixture } from './database-move-fixture.test-support.js';
import { placedRows } from './database-move.test-support.js';
import { resolveMoveParts } from './move-parts.js';
import type { PlacementMove } from './tenant-placement.service.js';

/**
 * Moves out of a tenant database (migration 0078), resumed and aborted: a crash after each step and between
 * the control database's decision and the COMMIT of the part the source prepared, resumed to `done`; the
 * resolver committing that part; an abort before the switch (to pooled and to a schema) leaving the
 * organization whole where it was; usage events counted once by the control database's aggregator; the
 * refusal of a source database this process has no owner URL for.
 */
describe('online moves out of a tenant database: resumed, aborted, counted', () => {
  const f = useMoveFixture('sr_dbout_res');
  let verifier: AuditVerifier;
  beforeAll(async () => {
    verifier = createAuditVerifier([createAuditSigner(await testJwtKey()).publicKey]);
  });
  const sourceGid = (id: string) => `sr_ms_${id.replaceAll('-', '')}`;
  const prepared = async (id: string) =>
    (await f.split.tenantAdmin.query('select 1 from pg_prepared_xacts where gid = $1', [sourceGid(id)]))
      .rowCount;
  const addProject = (org: string) =>
    f.tenancy.withTenant(org, (t) =>
      t
        .insertInto('projects')
        .values({ organization_id: org, id: uuidv7(), name: `after-${randomBytes(3).toString('hex')}` })
        .execute(),
    );

  for (const crashAfter of ['copying', 'switching', 'decision'] as const) {
    it(`resumes a move to pooled after a crash ${crashAfter === 'decision' ? 'between the decision and the source part' : `once ${crashAfter} is recorded`}`, async () => {
      const org = await f.inT1('res', 7);
      const crashing = f.crashing(crashAfter);
      const started = await crashing.start(org, 'pooled', 'test');
      expect(started).toMatchObject({ from: 'database', fromDatabaseKey: 't1', to: 'pooled' });
      await expect(crashing.run(started.id)).rejects.toThrow(/crash/);
      if (crashAfter === 'decision') {
        // Decided: the organization is pooled and works at once; the part it left in t1 stays prepared.
        expect(await f.placement(org)).toEqual({ kind: 'pooled', database_key: null, state: 'active' });
        expect(await prepared(started.id)).toBe(1);
        await addProject(org);
      }
      if (crashAfter === 'switching') {
        // A run that died inside the freeze after the source's PREPARE, before the decision: rolled back first.
        const c = await f.targetOwner.connect();
        try {
          await c.query('begin');
          await c.query(`prepare transaction '${sourceGid(started.id)}'`);
        } finally {
          c.release();
        }
      }
      const done = await f.engine().run(started.id);
      expect(done.step).toBe('done');
      expect(await prepared(started.id)).toBe(0);
      expect((await placedRows(f.split.admin, org)).projects).toBe(crashAfter === 'decision' ? 8 : 7);
      expect(await placedRows(f.split.tenantAdmin, org)).toEqual({});
      expect(await f.placement(org)).toEqual({ kind: 'pooled', database_key: null, state: 'active' });
      expect((await verifyOrganizationChain(f.tenancy.withTenant, verifier, org)).valid).toBe(true);
      await addProject(org);
      expect((await placedRows(f.split.admin, org)).projects).toBe(crashAfter === 'decision' ? 9 : 8);
    }, 120_000);
  }

  it("the resolver commits the source part of a run that died after the decision; t1's guarded path sends requests away", async () => {
    const org = await f.inT1('res', 3);
    const owner = new pg.Pool({ connectionString: f.split.control.migrationUrl, max: 3 });
    f.pools.push(owner);
    const dead = f.engine({
      afterDecision: () => {
        throw new Error('crash after the decision');
      },
    });
    const id = (await dead.start(org, 'pooled', 'test')).id;
    await expect(dead.run(id)).rejects.toThrow(/crash/);
    // A scope still routed to t1 as moving (a stale placement) is refused there while the part is prepared.
    const c = await f.split.tenantAdmin.query<{ step: string }>(
      'select step from placement_moves where id = $1',
      [id],
    );
    expect(c.rows[0]!.step).toBe('switching'); // the prepared part's `cleaning` not committed yet
    expect(await resolveMoveParts({ owner, target: f.targetOwner, minAgeMs: 0 })).toMatchObject({
      committed: 1,
    });
    expect(await prepared(id)).toBe(0);
    const after = await f.split.tenantAdmin.query<{ step: string }>(
      'select step from placement_moves where id = $1',
      [id],
    );
    expect(after.rows[0]!.step).toBe('cleaning');
    expect((await f.engine().run(id)).step).toBe('done');
    expect(await placedRows(f.split.tenantAdmin, org)).toEqual({});
  }, 120_000);

  for (const to of ['pooled', 'schema'] as const) {
    it(`aborts a move to ${to} before the switch: the copy goes, the organization works in t1`, async () => {
      const org = await f.inT1('res', 6);
      const crashing = f.engine({
        afterStep: (m: PlacementMove) => {
          if (m.step === 'switching') throw new Error('crash after the copy');
        },
      });
      const started = await crashing.start(org, to, 'test');
      await expect(crashing.run(started.id)).rejects.toThrow(/crash/);
      const schema = to === 'schema' ? tenantSchemaName(org) : 'public';
      expect((await placedRows(f.split.admin, org, schema)).projects).toBe(6);
      expect((await f.engine().abort(started.id, 'test')).step).toBe('aborted');
      expect(await placedRows(f.split.admin, org, schema)).toEqual({});
      if (to === 'schema') {
        const ns = await f.split.admin.query('select 1 from pg_namespace where nspname = $1', [schema]);
        expect(ns.rowCount).toBe(0);
      }
      expect(await f.placement(org)).toEqual({ kind: 'database', database_key: 't1', state: 'active' });
      await addProject(org);
      expect((await placedRows(f.split.tenantAdmin, org)).projects).toBe(7);
    }, 120_000);
  }

  it('aborts a move to pooled after its switch: it ends, then the organization moves back into t1', async () => {
    const org = await f.inT1('res', 4);
    const crashing = f.engine({
      afterDecision: () => {
        throw new Error('crash after the decision');
      },
    });
    const started = await crashing.start(org, 'pooled', 'test');
    await expect(crashing.run(started.id)).rejects.toThrow(/crash/);
    expect(await f.placement(org)).toEqual({ kind: 'pooled', database_key: null, state: 'active' });
    const back = await f.engine().abort(started.id, 'test');
    expect(back).toMatchObject({ step: 'done', from: 'pooled', to: 'database', databaseKey: 't1' });
    expect((await f.engine().get(started.id)).step).toBe('done');
    expect(await f.placement(org)).toEqual({ kind: 'database', database_key: 't1', state: 'active' });
    expect((await placedRows(f.split.tenantAdmin, org)).projects).toBe(4);
    expect(await placedRows(f.split.admin, org)).toEqual({});
    expect((await verifyOrganizationChain(f.tenancy.withTenant, verifier, org)).valid).toBe(true);
  }, 120_000);

  it('counts usage events once: those t1 aggregated stay counted, the others are aggregated by the control database', async () => {
    const org = await f.inT1('res', 1);
    const { event, dayEvents, controlWorker, tenantWorker } = await f.usage(org);
    for (let i = 0; i < 3; i++) await event(f.split.tenantAdmin);
    await drainAggregator(f.split.tenantAdmin, tenantWorker); // 3 counted in t1
    await drainAggregator(f.split.admin, controlWorker); // the control database's watermark past the copy's
    for (let i = 0; i < 2; i++) await event(f.split.tenantAdmin); // 2 not counted yet
    const moves = f.engine();
    expect((await moves.run((await moves.start(org, 'pooled', 'test')).id)).step).toBe('done');
    await drainAggregator(f.split.admin, controlWorker);
    expect(await dayEvents(f.split.admin)).toBe('5');
    expect((await placedRows(f.split.admin, org)).usage_events).toBe(5);
  }, 120_000);

  it('refuses a move out of a database this process has no owner URL for (recorded aborted, nothing moved)', async () => {
    const org = await f.inT1('res', 2);
    const blind = f.engine({ targetOwner: () => undefined });
    await expect(blind.start(org, 'pooled', 'test')).rejects.toMatchObject({
      code: 'MOVE_TARGET_UNSUPPORTED',
      status: 422,
    });
    expect(await f.placement(org)).toEqual({ kind: 'database', database_key: 't1', state: 'active' });
    const last = await f.split.admin.query<{ step: string }>(
      'select step from placement_moves where organization_id = $1 order by created_at desc limit 1',
      [org],
    );
    expect(last.rows[0]!.step).toBe('aborted');
    await addProject(org);
    expect((await placedRows(f.split.tenantAdmin, org)).projects).toBe(3);
  }, 60_000);
});
