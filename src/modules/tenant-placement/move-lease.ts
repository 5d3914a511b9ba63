import type pg from 'pg';
import { PlacementMoveError } from './tenant-placement.errors.js';

/** The lease of a run of move $1: a session advisory lock of the control database, keyed by two integers
 *  (apart from the one-key organization move locks of migration 0040). */
const LEASE_SQL = `hashtext('sr.placement_move.run'), hashtext($1::text)`;

/**
 * Runs `fn` holding the move's lease, on an owner connection of the control database kept for the whole
 * run (a process that dies releases it with its connection): one run of a move at a time, so no run
 * settles another's prepared part between its PREPARE and its COMMIT. Held elsewhere: `MOVE_RUNNING`.
 */
export async function withMoveLease<T>(owner: pg.Pool, moveId: string, fn: () => Promise<T>): Promise<T> {
  const c = await owner.connect();
  let held = false;
  try {
    const r = await c.query<{ ok: boolean }>(`select pg_try_advisory_lock(${LEASE_SQL}) as ok`, [moveId]);
    held = r.rows[0]!.ok;
    if (!held) {
      throw new PlacementMoveError(
        'MOVE_RUNNING',
        `placement move ${moveId} is running elsewhere (another process holds its lease): wait for it, or stop it first`,
        409,
      );
    }
    return await fn();
  } finally {
    const unlocked = held
      ? await c.query(`select pg_advisory_unlock(${LEASE_SQL})`, [moveId]).then(
          () => true,
          () => false,
        )
      : true;
    // A connection whose unlock failed is closed: its session (and the lease) ends with it.
    c.release(!unlocked);
  }
}
