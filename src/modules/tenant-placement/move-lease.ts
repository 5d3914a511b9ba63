import pg from 'pg';
import { takeMoveRun } from '../../platform/tenancy/privileged-database-move.js';
import { PlacementMoveError } from './tenant-placement.errors.js';

/** The lease of a run of move $1: a session advisory lock of the control database, keyed by two integers
 *  (apart from the one-key organization move locks of migration 0040). */
const LEASE_SQL = `hashtext('sr.placement_move.run'), hashtext($1::text)`;

/**
 * Runs `fn` holding the move's lease, on a connection of the control database's owner role kept for the
 * whole run (a process that dies releases it with its connection): one run of a move at a time, so no run
 * settles another's prepared part between its PREPARE and its COMMIT. Held elsewhere: `MOVE_RUNNING`.
 * The connection is the run's own, opened with the owner pool's settings outside it: a lease never takes
 * one of the pool's connections that the run's steps (or another move's) wait for.
 * The lease alone does not survive its connection (a proxy cutting it, a terminated backend): a run that
 * takes it also takes a new run number (`takeMoveRun`), the fence every write of a move into a tenant
 * database carries, so a run that lost its lease to a newer one is refused (SRM02) at its next write.
 */
export async function withMoveLease<T>(
  owner: pg.Pool,
  moveId: string,
  fn: (run: number) => Promise<T>,
): Promise<T> {
  const c = new pg.Client(owner.options);
  // A lost connection ends the lease; its error must not end the process (the run's steps see their own).
  c.on('error', () => {});
  await c.connect();
  try {
    const r = await c.query<{ ok: boolean }>(`select pg_try_advisory_lock(${LEASE_SQL}) as ok`, [moveId]);
    if (!r.rows[0]!.ok) {
      throw new PlacementMoveError(
        'MOVE_RUNNING',
        `placement move ${moveId} is running elsewhere (another process holds its lease): wait for it, or stop it first`,
        409,
      );
    }
    return await fn(await takeMoveRun(c, moveId));
  } finally {
    // Closing the session releases the lease.
    await c.end().catch(() => {});
  }
}
