import { advanceMove, type PlacementMove } from '../../platform/tenancy/privileged-placement.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';

/** What one kind of move does at each recorded step; `runMoveStep` records the step that follows. */
export interface MoveStepActions<M extends PlacementMove> {
  /** At `preparing`: throws when a database of the move is not reachable from here. */
  check?(m: M): void;
  /** At `copying`: the organization's rows into the target. */
  copy(m: M): Promise<void>;
  /** At `switching`: the catch-up rounds and the freeze (returns without one when decided meanwhile). */
  switchOver(m: M): Promise<void>;
  /** At `cleaning`: the source given up; the move is `done` after it. */
  clean(m: M): Promise<void>;
  /** At `aborting`: the target's copy dropped; the move is `aborted` after it. */
  abort(m: M): Promise<void>;
}

/**
 * Runs the move's recorded step (docs/isolation-models.md, "Online moves"), the same for every kind of move:
 * the organization's cached placement dropped where its route changes (`moving` before the copy, after the
 * switch and the abort), and the next step recorded once this one's work is done. A step after the last
 * (`done`, `aborted`) does nothing.
 */
export async function runMoveStep<M extends PlacementMove>(
  deps: Pick<PlacementMoveDeps, 'owner' | 'invalidate'>,
  m: M,
  actions: MoveStepActions<M>,
): Promise<void> {
  const { owner } = deps;
  switch (m.step) {
    case 'preparing':
      actions.check?.(m);
      deps.invalidate(m.organizationId);
      await advanceMove(owner, m.id, 'copying');
      return;
    case 'copying':
      await actions.copy(m);
      await advanceMove(owner, m.id, 'switching');
      return;
    case 'switching':
      await actions.switchOver(m);
      deps.invalidate(m.organizationId);
      return;
    case 'cleaning':
      await actions.clean(m);
      await advanceMove(owner, m.id, 'done');
      return;
    case 'aborting':
      await actions.abort(m);
      await advanceMove(owner, m.id, 'aborted');
      deps.invalidate(m.organizationId);
      return;
    default:
      return;
  }
}
