import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useMoveFixture } from './database-move-fixture.test-support.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';
import { resolveMoveParts } from './move-parts.js';

/** One run of a move at a time (its lease), and refusals that never clear stop a run instead of looping. */
describe('moves into a tenant database: the run lease and refusals that stand', () => {
  const f = useMoveFixture('sr_dbmove_lease');
  const { pools } = f;
  const engine = (extra: Partial<PlacementMoveDeps> = {}) => f.engine(extra);
  const within = <T>(p: Promise<T>, ms = 15_000) =>
    Promise.race([p, new Promise<string>((r) => setTimeout(() => r(`still running after ${ms} ms`), ms))]);
  const newOrg = () => f.newOrg('lease');

  it('a second run of a live move is refused as running elsewhere; an abort leaves its step to the live run', async () => {
    const org = await newOrg();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const atFreeze = new Promise<void>((r) => (reached = r));
    const first = engine({
      beforeFreeze: async () => {
        reached();
        await gate;
      },
    });
    const id = (await first.start(org, 'database:t1', 'test')).id;
    const running = first.run(id);
    await atFreeze;
    await expect(engine().run(id)).rejects.toMatchObject({ code: 'MOVE_RUNNING' });
    // Recorded, then left to the live run (which meets it at its switch and aborts).
    expect((await engine().abort(id, 'test')).step).toBe('aborting');
    release();
    expect((await within(running)) as { step?: string }).toMatchObject({ step: 'aborted' });
    // The lease went with the run: a later run of the ended move answers it.
    expect((await engine().run(id)).step).toBe('aborted');
    const placed = await f.split.admin.query(
      'select kind, state from tenant_placements where organization_id = $1',
      [org],
    );
    expect(placed.rows[0]).toMatchObject({ kind: 'pooled', state: 'active' });
  }, 120_000);

  it('a refusal that does not clear (the record did not move on) ends the run with its error recorded', async () => {
    const org = await newOrg();
    const service = engine();
    const id = (await service.start(org, 'database:t1', 'test')).id;
    // The tenant database's record of the move is aborting (by hand): its copy refuses (55000), for good.
    await f.targetOwner.query(`select app_priv_placement_xmove_mirror($1, $2, 't1', 'aborting', 0)`, [
      id,
      org,
    ]);
    const outcome = await within(
      service.run(id).then(
        (m) => `ended ${m.step}`,
        (e: { code?: string }) => `refused ${e.code ?? ''}`,
      ),
    );
    expect(outcome).toBe('refused 55000');
    const rec = await f.split.admin.query<{ step: string; error: string | null }>(
      'select step, error from placement_moves where id = $1',
      [id],
    );
    expect(rec.rows[0]!.step).toBe('copying');
    expect(rec.rows[0]!.error).toMatch(/aborting/);
    await service.abort(id, 'test').catch(() => {});
  }, 120_000);

  it('the resolver settles a part a dead run left by the control database, never one whose run holds the lease', async () => {
    const owner = new pg.Pool({ connectionString: f.split.control.migrationUrl, max: 3 });
    pools.push(owner);
    const gidOf = (id: string) => `sr_mv_${id.replaceAll('-', '')}`;
    const prepared = async (id: string) =>
      (await f.split.tenantAdmin.query('select 1 from pg_prepared_xacts where gid = $1', [gidOf(id)]))
        .rowCount;

    // Died between the decision and the COMMIT of its part: the part commits (the move then ends).
    const a = await newOrg();
    const dead = engine({
      afterDecision: () => {
        throw new Error('crash after the decision');
      },
    });
    const idA = (await dead.start(a, 'database:t1', 'test')).id;
    await expect(dead.run(idA)).rejects.toThrow(/crash/);
    expect(await prepared(idA)).toBe(1);
    expect(await resolveMoveParts({ owner, target: f.targetOwner, minAgeMs: 0 })).toMatchObject({
      committed: 1,
    });
    expect(await prepared(idA)).toBe(0);
    expect((await engine().run(idA)).step).toBe('done');

    // Died while switching (a part prepared, no decision): rolled back, but only once no run holds the lease.
    const b = await newOrg();
    const crash = engine({
      afterStep: (m) => {
        if (m.step === 'switching') throw new Error('crash');
      },
    });
    const idB = (await crash.start(b, 'database:t1', 'test')).id;
    await expect(crash.run(idB)).rejects.toThrow(/crash/);
    const part = await f.targetOwner.connect();
    await part.query('begin');
    await part.query(`prepare transaction '${gidOf(idB)}'`);
    part.release();
    const lease = await owner.connect();
    await lease.query(`select pg_advisory_lock(hashtext('sr.placement_move.run'), hashtext($1::text))`, [
      idB,
    ]);
    expect(await resolveMoveParts({ owner, target: f.targetOwner, minAgeMs: 0 })).toMatchObject({
      rolledBack: 0,
    });
    expect(await prepared(idB)).toBe(1);
    await lease.query(`select pg_advisory_unlock(hashtext('sr.placement_move.run'), hashtext($1::text))`, [
      idB,
    ]);
    lease.release();
    expect(await resolveMoveParts({ owner, target: f.targetOwner, minAgeMs: 0 })).toMatchObject({
      rolledBack: 1,
    });
    expect(await prepared(idB)).toBe(0);
    expect((await engine().run(idB)).step).toBe('done');
  }, 120_000);
});
