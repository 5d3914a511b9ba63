import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../platform/ids.js';
import { useMoveFixture } from './database-move-fixture.test-support.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';

/**
 * Review of the freeze's two-phase commit: a COMMIT of the control database whose reply is lost (the
 * server committed, the client sees a connection error) is taken for a failure, and the tenant database's
 * prepared part is rolled back although the control database decided the switch. The resumed run then
 * activates the placement and discards the source without checking that the target's part committed.
 */
describe('moves into a tenant database: a lost reply to the switch decision, and an abort racing it', () => {
  /** The owner pool, whose clients answer the COMMIT after the switch with a connection error once the
   *  server has committed it (what a connection lost after the COMMIT reached the server looks like). */
  const lossyOwner = (beforeCommit?: () => Promise<void>) => {
    const pool = new pg.Pool({ connectionString: f.split.control.migrationUrl, max: 3 });
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('error', () => {});
      let armed = false;
      const orig = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
      (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        const text = typeof args[0] === 'string' ? args[0] : '';
        if (text.includes('app_priv_placement_xmove_switch(')) armed = true;
        if (armed && text === 'commit') {
          armed = false;
          if (beforeCommit) {
            await beforeCommit();
            return orig('commit');
          }
          await orig('commit');
          throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
        }
        return orig(...args);
      };
    });
    pools.push(pool);
    return pool;
  };
  const f = useMoveFixture('sr_dbmove_rev');
  const { pools } = f;
  const engine = (extra: Partial<PlacementMoveDeps> = {}) => f.engine(extra);
  const ids = async (c: pg.Client, table: string, org: string) =>
    (
      await c.query<{ id: string }>(`select id::text from public.${table} where organization_id = $1`, [org])
    ).rows
      .map((r) => r.id)
      .sort();

  it('keeps the final delta and the pending audit events when the decision committed but its reply was lost', async () => {
    const org = await f.newOrg('rev', 5, { audit: 'rev' });
    // Written after the catch-up rounds: only the freeze's final delta (the prepared part) carries it.
    const late = uuidv7();
    const first = engine({
      owner: lossyOwner(),
      beforeFreeze: async () => {
        await f.tenancy.withTenant(org, (t) =>
          t.insertInto('projects').values({ organization_id: org, id: late, name: 'late' }).execute(),
        );
      },
    });
    const started = await first.start(org, 'database:t1', 'review');
    const before = [...(await ids(f.split.admin, 'projects', org)), late].sort();
    const pendingBefore = (
      await f.split.admin.query('select 1 from audit_pending where organization_id = $1', [org])
    ).rowCount;
    await expect(first.run(started.id)).rejects.toThrow();
    // The control database decided the switch ...
    const placed = await f.split.admin.query(
      'select kind, state from tenant_placements where organization_id = $1',
      [org],
    );
    expect(placed.rows[0]).toMatchObject({ kind: 'database' });
    // ... so the tenant database's part must not have been rolled back: it is still prepared, or committed.
    const prepared = await f.split.tenantAdmin.query('select 1 from pg_prepared_xacts where gid = $1', [
      `sr_mv_${started.id.replaceAll('-', '')}`,
    ]);
    const mirror = await f.split.tenantAdmin.query<{ step: string }>(
      'select step from placement_moves where id = $1',
      [started.id],
    );
    expect.soft(prepared.rowCount === 1 || mirror.rows[0]?.step === 'cleaning').toBe(true);

    // The resumed run (bounded: run() retries 55000 forever).
    const resumed = engine().run(started.id);
    const outcome = await Promise.race([
      resumed.then(
        (m) => m.step,
        (e: Error) => `error: ${e.message}`,
      ),
      new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000)),
    ]);
    expect.soft(outcome).toBe('done');
    // The source was discarded meanwhile: what the target lacks is gone from both databases.
    expect.soft(await ids(f.split.admin, 'projects', org)).toEqual([]);
    expect(await ids(f.split.tenantAdmin, 'projects', org)).toEqual(before);
    const pendingAfter =
      (await f.split.tenantAdmin.query('select 1 from audit_pending where organization_id = $1', [org]))
        .rowCount! +
      (await f.split.tenantAdmin.query('select 1 from audit_events where organization_id = $1', [org]))
        .rowCount!;
    expect(pendingAfter).toBeGreaterThanOrEqual(pendingBefore! + 1);
  }, 120_000);

  it('an abort racing the decision of the switch is refused or wins whole, never both', async () => {
    const org = await f.newOrg('rev', 5);
    const before = await ids(f.split.admin, 'projects', org);
    let aborting: Promise<string> | undefined;
    let moveId = '';
    // The switch's COMMIT is slow (a busy control database): an administrator's abort arrives meanwhile.
    const slow = lossyOwner(async () => {
      aborting = engine()
        .abort(moveId, 'review')
        .then(
          (m) => m.step,
          (e: Error) => `refused: ${e.message}`,
        );
      await new Promise((r) => setTimeout(r, 500));
    });
    const first = engine({ owner: slow });
    moveId = (await first.start(org, 'database:t1', 'review')).id;
    const bounded = (p: Promise<string>) =>
      Promise.race([p, new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
    const ran = await bounded(
      first.run(moveId).then(
        (m) => m.step,
        (e: Error) => `error: ${e.message}`,
      ),
    );
    const aborted = await bounded(aborting ?? Promise.resolve('abort never called'));
    const move = await f.split.admin.query<{ step: string }>(
      'select step from placement_moves where id = $1',
      [moveId],
    );
    const placed = await f.split.admin.query<{ kind: string; state: string }>(
      'select kind, state from tenant_placements where organization_id = $1',
      [org],
    );
    const summary = {
      ran,
      aborted,
      step: move.rows[0]!.step,
      placement: placed.rows[0],
      source: (await ids(f.split.admin, 'projects', org)).length,
      target: (await ids(f.split.tenantAdmin, 'projects', org)).length,
    };
    const done = { step: 'done', placement: { kind: 'database', state: 'active' }, target: before.length };
    const back = { step: 'aborted', placement: { kind: 'pooled', state: 'active' }, source: before.length };
    expect(
      [done, back].some((ok) =>
        Object.entries(ok).every(
          ([k, v]) => JSON.stringify(summary[k as keyof typeof summary]) === JSON.stringify(v),
        ),
      ),
      JSON.stringify(summary),
    ).toBe(true);
  }, 120_000);
});
