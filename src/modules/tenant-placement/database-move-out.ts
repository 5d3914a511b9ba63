import { dropSchemaAsOwner, syncPlacementSchema } from '../../platform/tenancy/placement-schema.js';
import {
  activatePlacement,
  holdMoveLock,
  mirrorMove,
  moveGid,
  moveHorizon,
  moveStepOf,
  settlePrepared,
  sourceMirror,
  switchOut,
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

/**
 * The steps of a move OUT of a tenant database (docs/isolation-models.md, "Online moves out of a tenant
 * database"): back to `pooled`, into the organization's schema of the control database, or into another
 * tenant database. The source is the tenant database the organization leaves (its owner role,
 * `TENANT_DATABASES[key].ownerUrl`), where the move has a record of its own (`sourceMirror`, migration 0078)
 * and where the organization's requests take the move lock (`app_enter_moving_placed`); the target is the
 * control database (its owner role) or the other tenant database (its mirror, as for a move into one).
 * The freeze holds the move lock in the source at session level, reads the final delta there in ONE
 * repeatable-read snapshot taken after the lock, and PREPAREs the source's part (its record at `cleaning`:
 * from then on the organization's requests there are sent away); the control database's COMMIT decides.
 */
export function createDatabaseMoveOutSteps(
  deps: PlacementMoveDeps,
  tables: () => Promise<MoveTable[]>,
): { step(m: RunMove): Promise<void> } {
  const { owner } = deps;
  const intoDatabase = (m: RunMove) => m.to === 'database';

  const ownerOf = (key: string | null) => tenantOwnerOf(deps.targetOwner, key);
  const source = (m: RunMove) => ownerOf(m.fromDatabaseKey);
  const target = (m: RunMove) => (intoDatabase(m) ? ownerOf(m.databaseKey) : owner);
  const data = createMoveData(deps, { source, target });

  /** Both records of the move in tenant databases moved to `step` (null: this run's fence alone). */
  async function mirrors(m: RunMove, step: string | null): Promise<void> {
    await sourceMirror(source(m), m, m.run, step);
    if (intoDatabase(m)) await mirrorMove(target(m), m.id, m.run, m.organizationId, m.databaseKey!, step);
  }

  /** Settles the prepared parts a dead run left (the source's, and the target's for a tenant database). */
  async function settleParts(m: RunMove, commit: boolean): Promise<void> {
    await settlePrepared(source(m), m.id, commit, 'source');
    if (intoDatabase(m)) await settlePrepared(target(m), m.id, commit);
  }

  async function copy(m: RunMove): Promise<void> {
    if (m.to === 'schema') {
      const c = await owner.connect();
      try {
        await syncPlacementSchema(c, m.organizationId, deps.roles);
      } finally {
        c.release();
      }
    }
    await mirrors(m, 'copying');
    await data.copyRows(m, await tables());
  }

  /** The freeze (see the header). A failure before the decision rolls every part back. */
  async function freeze(m: RunMove, list: MoveTable[], horizon: string): Promise<void> {
    const gidS = moveGid(m.id, 'source');
    const gidT = moveGid(m.id);
    const c = await source(m).connect();
    const tc = await target(m).connect();
    const dc = intoDatabase(m) ? await owner.connect() : tc;
    let held = false;
    let srcPrepared = false;
    let tgtPrepared = false;
    let committing = false;
    let decided = false;
    let lost = false;
    try {
      // The lock first, in a transaction of its own: the snapshot below is taken after it, so it sees
      // every write of the organization's requests (each holds the lock shared until it ends).
      await c.query('begin');
      await setLockTimeout(c, deps.lockTimeoutMs);
      await holdMoveLock(c, m.id, true);
      held = true;
      await c.query('commit');
      await c.query('begin isolation level repeatable read');
      await c.query(DATA_LOCK);
      await tc.query('begin');
      await tc.query(DATA_LOCK);
      await data.finalDelta(c, tc, m, list, horizon);
      await deps.duringFreeze?.();
      await sourceMirror(c, m, m.run, 'cleaning');
      await c.query(`prepare transaction '${gidS}'`);
      srcPrepared = true;
      const audit = switchAuditEntry(m);
      if (intoDatabase(m)) {
        await switchTarget(tc, m.id, m.run, audit);
        await tc.query(`prepare transaction '${gidT}'`);
        tgtPrepared = true;
        await dc.query('begin');
        await switchSource(dc, m.id, gidT, deps.regionOf?.(m.databaseKey!) ?? null, m.run);
      } else {
        await switchOut(tc, m.id, m.run, gidS, deps.schemaVersion, audit);
      }
      committing = true;
      await dc.query('commit');
      committing = false;
      decided = true;
      await deps.afterDecision?.();
      if (intoDatabase(m)) {
        await tc.query(`commit prepared '${gidT}'`);
        await activatePlacement(owner, m.id);
      }
      await c.query(`commit prepared '${gidS}'`);
    } catch (err) {
      if (committing) {
        // The decision's outcome is unknown (its reply lost): read it on a fresh connection.
        lost = true;
        dc.release(true);
        await settleUnknown(m);
      } else if (!decided) {
        if (dc !== tc) await dc.query('rollback').catch(() => {});
        if (tgtPrepared) await tc.query(`rollback prepared '${gidT}'`).catch(() => {});
        else await tc.query('rollback').catch(() => {});
        if (srcPrepared) await c.query(`rollback prepared '${gidS}'`).catch(() => {});
        else await c.query('rollback').catch(() => {});
      }
      throw err;
    } finally {
      if (held) await holdMoveLock(c, m.id, false).catch(() => {});
      c.release();
      if (!(lost && dc === tc)) tc.release();
      if (dc !== tc && !lost) dc.release();
    }
  }

  /** After a decision whose outcome is unknown: the control database's step settles the parts
   *  (switch-decision.ts). */
  const settleUnknown = (m: RunMove) =>
    settleByDecision(deps, m, (commit) => settleParts(m, commit), {
      kept: 'its parts stay',
      settled: 'its parts settled',
    });

  async function switchOver(m: RunMove): Promise<void> {
    if ((await moveStepOf(owner, m.id)) !== 'switching') return; // decided meanwhile: run re-reads it
    await settleParts(m, false);
    await mirrors(m, 'switching');
    const list = await tables();
    const since = (await moveHorizon(source(m), m.id)) ?? '0';
    await data.roundsThenFreeze(m, list, since, (horizon) => freeze(m, list, horizon));
  }

  async function clean(m: RunMove): Promise<void> {
    const src = source(m);
    // The decision is the control database's (this move is cleaning): parts a dead run left, committed.
    await settleParts(m, true);
    await mirrors(m, null);
    // The source is given up only once its record says the switch's part committed there.
    for (const [db, where] of [
      [src, `the tenant database ${m.fromDatabaseKey}`],
      ...(intoDatabase(m) ? [[target(m), `the tenant database ${m.databaseKey}`] as const] : []),
    ] as const) {
      await requireSwitchedPart(db, m, where, 'the source is kept');
    }
    await activatePlacement(owner, m.id);
    deps.invalidate(m.organizationId);
    await data.discardRows(m, await tables());
    await mirrors(m, 'done');
  }

  async function abort(m: RunMove): Promise<void> {
    await settleParts(m, false);
    await mirrors(m, 'aborting');
    if (m.to === 'schema') await dropSchemaAsOwner(owner, m.organizationId);
    else await data.deleteCopy(m, await tables());
    await mirrors(m, 'aborted');
  }

  const check = (m: RunMove) => {
    source(m);
    target(m);
  };
  return { step: (m) => runMoveStep(deps, m, { check, copy, switchOver, clean, abort }) };
}
