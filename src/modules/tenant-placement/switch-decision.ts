import type pg from 'pg';
import { moveStepOf } from '../../platform/tenancy/privileged-database-move.js';
import { PlacementMoveError } from './tenant-placement.errors.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';
import type { RunMove } from './database-move-data.js';

/**
 * After a switch COMMIT whose outcome is unknown (its reply lost: the server may have decided), in a move
 * with a tenant database on a side: the control database's step, read under the row's lock (a COMMIT still
 * in flight is waited out), settles the prepared parts: `cleaning` or `done`, `settle(true)` commits them;
 * `switching`, `settle(false)` rolls them back. Unreadable (or another step): they stay prepared, for the
 * next run (which settles them by the same rule) or the operator. `said`: the log's words for both ends.
 */
export async function settleByDecision(
  deps: Pick<PlacementMoveDeps, 'owner' | 'log'>,
  m: RunMove,
  settle: (commit: boolean) => Promise<void>,
  said: { readonly kept: string; readonly settled: string },
): Promise<void> {
  let step: string | null;
  try {
    step = await moveStepOf(deps.owner, m.id);
  } catch (err) {
    deps.log?.error({ move: m.id, err }, `placement move: the switch decision is unknown, ${said.kept}`);
    return;
  }
  if (step === 'cleaning' || step === 'done') await settle(true);
  else if (step === 'switching') await settle(false);
  deps.log?.warn({ move: m.id, step }, `placement move: the switch COMMIT's reply was lost, ${said.settled}`);
}

/** Cleaning gives the source up only once the tenant database `db` (`where`) holds the switch's part: its
 *  record of the move at `cleaning` or `done` (the prepared part committed). Otherwise the final delta is
 *  not there: 409 `MOVE_CONFLICT`, and `kept` says what stays. */
export async function requireSwitchedPart(
  db: pg.Pool,
  m: RunMove,
  where: string,
  kept: string,
): Promise<void> {
  const mirrored = await moveStepOf(db, m.id);
  if (mirrored !== 'cleaning' && mirrored !== 'done') {
    throw new PlacementMoveError(
      'MOVE_CONFLICT',
      `placement move ${m.id} switched, but ${where} does not hold its part (its record there is ${mirrored ?? 'missing'}): ${kept}`,
      409,
    );
  }
}
