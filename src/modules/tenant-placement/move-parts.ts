import type pg from 'pg';
import { activatePlacement, moveStepOf } from '../../platform/tenancy/privileged-database-move.js';
import { withMoveLease } from './move-lease.js';
import { PlacementMoveError } from './tenant-placement.errors.js';

/** `sr_mv_<move id, 32 hex>`, the part of the database a move goes into, or `sr_ms_…`, of the one it leaves
 *  (privileged-database-move.ts `moveGid`). */
const MOVE_GID = /^sr_m[vs]_([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/;

/**
 * Settles the prepared parts of moves into this tenant database (`sr_mv_*`, the freeze's final delta), and
 * out of it (`sr_ms_*`, its record of the move at `cleaning`, migration 0078),
 * that a dead run left for at least `minAgeMs`: each under the move's lease (a live run holds it from
 * before its PREPARE to after its COMMIT, so a part whose lease is held is skipped), by the control
 * database's step, read under the row's lock: `cleaning` or `done` (the switch decided), committed (and,
 * at `cleaning` with the tenant database's mirror at `cleaning`, the placement activated, as the move's
 * `cleaning` does first: the organization's requests are routed there at once);
 * `switching`, `aborting`, `aborted` or `failed`, rolled back. A move the control database does not know
 * keeps its part (logged by the caller's count: neither). `owner`: the control database's owner pool;
 * `target`: the tenant database's owner pool (the role that prepared the parts).
 */
export async function resolveMoveParts(opts: {
  readonly owner: pg.Pool;
  readonly target: pg.Pool;
  readonly minAgeMs?: number;
}): Promise<{ committed: number; rolledBack: number; kept: number }> {
  const listed = await opts.target.query<{ gid: string }>(
    `select gid from pg_catalog.pg_prepared_xacts
      where database = current_database() and gid like 'sr\\_m_\\_%' and owner = current_user
        and prepared < now() - make_interval(secs => $1::double precision / 1000)`,
    [opts.minAgeMs ?? 60_000],
  );
  let committed = 0;
  let rolledBack = 0;
  let kept = 0;
  for (const { gid } of listed.rows) {
    const m = MOVE_GID.exec(gid);
    if (!m) continue;
    const moveId = m.slice(1).join('-');
    try {
      await withMoveLease(opts.owner, moveId, async () => {
        const step = await moveStepOf(opts.owner, moveId);
        const commit = step === 'cleaning' || step === 'done';
        if (!commit && !['switching', 'aborting', 'aborted', 'failed'].includes(step ?? '')) {
          kept++;
          return;
        }
        await opts.target.query(`${commit ? 'commit' : 'rollback'} prepared '${gid}'`);
        if (commit) committed++;
        else rolledBack++;
        // What the move's `cleaning` does first: the placement active once the tenant database holds the
        // switch's part (its mirror at cleaning), so the organization's requests stop waiting for a run.
        // Only the part of the database a move goes into (`sr_mv_`): the placement activated after a source's
        // part (`sr_ms_`) would route a move between two tenant databases to a target whose part is still
        // prepared (its final delta unseen).
        if (
          commit &&
          step === 'cleaning' &&
          gid.startsWith('sr_mv_') &&
          ['cleaning', 'done'].includes((await moveStepOf(opts.target, moveId)) ?? '')
        ) {
          await activatePlacement(opts.owner, moveId);
        }
      });
    } catch (err) {
      if (err instanceof PlacementMoveError && err.code === 'MOVE_RUNNING') continue; // its run settles it
      // Settled meanwhile (42704: no such prepared transaction).
      if ((err as { code?: string }).code === '42704') continue;
      throw err;
    }
  }
  return { committed, rolledBack, kept };
}
