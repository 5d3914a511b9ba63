import type pg from 'pg';
import { dropSchemaAsOwner } from '../../platform/tenancy/placement-schema.js';
import {
  activatePlacement,
  holdMoveLock,
  mirrorMove,
  moveGid,
  moveStepOf,
  settlePrepared,
  switchSource,
  switchTarget,
} from '../../platform/tenancy/privileged-database-move.js';
import type { MoveTable } from './move-tables.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';
import { switchAuditEntry } from './database-move-audit.js';
import { DATA_LOCK, setLockTimeout } from './move-transaction.js';
import { runMoveStep } from './move-steps.js';
import { requireSwitchedPart, settleByDecision } from './switch-decision.js';
import { tenantOwnerOf } from './target-owners.js';
import { createMoveData, type RunMove } from './database-move-data.js';

export type { RunMove } from './database-move-data.js';

/**
 * The steps of a move from the pooled schema (or the organization's own) of the control database into a tenant database
 * (docs/isolation-models.md, "Online moves into a tenant database"), in the engine's recorded-step shape
 * (tenant-placement.service.ts runs them). The source is read with the owner role of the control database,
 * the target written with the owner role of the tenant database (`TENANT_DATABASES[key].ownerUrl`), both
 * through migration 0076's definer functions.
 */
export function createDatabaseMoveSteps(
  deps: PlacementMoveDeps,
  tables: () => Promise<MoveTable[]>,
): { step(m: RunMove): Promise<void> } {
  const { owner } = deps;

  const target = (m: RunMove) => tenantOwnerOf(deps.targetOwner, m.databaseKey);
  const data = createMoveData(deps, { source: () => owner, target });

  async function copy(m: RunMove): Promise<void> {
    await mirrorMove(target(m), m.id, m.run, m.organizationId, m.databaseKey!, 'copying');
    await data.copyRows(m, await tables());
  }

  /**
   * The freeze: the move lock taken at session level (requests of the organization queue), the final
   * delta and audit_pending written in a transaction of the tenant database, the usage events the source
   * had not aggregated claimed there, the move's audit event admitted there, that transaction PREPARED;
   * the control database's switch COMMITTED (the decision); the prepared part COMMITTED; the placement
   * active; the lock released. A failure before the decision rolls both back and changes nothing.
   */
  async function freeze(m: RunMove, list: MoveTable[], horizon: string): Promise<void> {
    const t = target(m);
    const gid = moveGid(m.id);
    const c = await owner.connect();
    const tc = await t.connect();
    let decided = false;
    let held = false;
    let prepared = false;
    let committing = false;
    let lost = false;
    try {
      await c.query('begin');
      await c.query(DATA_LOCK);
      await setLockTimeout(c, deps.lockTimeoutMs);
      await holdMoveLock(c, m.id, true);
      held = true;
      await tc.query('begin');
      await data.finalDelta(c, tc, m, list, horizon);
      await deps.duringFreeze?.();
      await switchTarget(tc, m.id, m.run, switchAuditEntry(m));
      await tc.query(`prepare transaction '${gid}'`);
      prepared = true;
      await switchSource(c, m.id, gid, deps.regionOf?.(m.databaseKey!) ?? null, m.run);
      committing = true;
      await c.query('commit');
      committing = false;
      decided = true;
      await deps.afterDecision?.();
      await tc.query(`commit prepared '${gid}'`);
      await activatePlacement(c, m.id);
    } catch (err) {
      if (committing) {
        // The COMMIT's outcome is unknown (its reply lost): the server may have decided. Its connection is
        // dropped (which releases the move lock), and the decision read on a fresh one, the row's lock
        // waiting out a COMMIT still in flight: cleaning, the prepared part commits; switching, it goes.
        lost = true;
        c.release(true);
        await settleUnknown(m, tc, gid);
      } else if (!decided) {
        await c.query('rollback').catch(() => {});
        if (prepared) await tc.query(`rollback prepared '${gid}'`).catch(() => {});
        else await tc.query('rollback').catch(() => {});
      }
      throw err;
    } finally {
      tc.release();
      if (!lost) {
        if (held) await holdMoveLock(c, m.id, false).catch(() => {});
        c.release();
      }
    }
  }

  /** After a switch COMMIT whose outcome is unknown: the control database's step settles the prepared part
   *  (switch-decision.ts). */
  const settleUnknown = (m: RunMove, tc: pg.PoolClient, gid: string) =>
    settleByDecision(
      deps,
      m,
      async (commit) => {
        await tc.query(`${commit ? 'commit' : 'rollback'} prepared '${gid}'`);
      },
      { kept: 'its part stays prepared', settled: 'its part settled' },
    );

  async function switchOver(m: RunMove): Promise<void> {
    const t = target(m);
    // A run that died inside an earlier freeze, before the control database decided: its part goes
    // (the step read under the row's lock: a switch COMMIT still in flight is waited out first).
    if ((await moveStepOf(owner, m.id)) !== 'switching') return; // decided meanwhile: run re-reads it
    await settlePrepared(t, m.id, false);
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'switching');
    const list = await tables();
    await data.roundsThenFreeze(m, list, m.copyXmin ?? '0', (horizon) => freeze(m, list, horizon));
  }

  async function clean(m: RunMove): Promise<void> {
    const t = target(m);
    // The decision is the control database's (this move is cleaning): a part a dead run left, committed.
    await settlePrepared(t, m.id, true);
    // This run fenced in (an older run's writes refused from here on).
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, null);
    // The source is given up only once the tenant database holds the switch's part (its mirror at
    // cleaning: the prepared part committed); otherwise the final delta is not there, and nothing goes.
    await requireSwitchedPart(
      t,
      m,
      `the tenant database ${m.databaseKey}`,
      'the source is kept, the placement not activated',
    );
    await activatePlacement(owner, m.id);
    deps.invalidate(m.organizationId);
    if (m.from === 'schema') await dropSchemaAsOwner(owner, m.organizationId);
    else await data.discardRows(m, await tables());
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'done');
  }

  async function abort(m: RunMove): Promise<void> {
    const t = target(m);
    await settlePrepared(t, m.id, false);
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'aborting');
    await data.deleteCopy(m, await tables());
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'aborted');
  }

  return { step: (m) => runMoveStep(deps, m, { check: target, copy, switchOver, clean, abort }) };
}
