import type pg from 'pg';
import { PLACEMENT_DDL_LOCK_SQL } from '../../platform/tenancy/placement-schema.js';

/** A move's data step takes the placement DDL lock SHARED, first in its transaction (placement-schema.ts:
 *  no placement DDL meanwhile, so no lock cycle with a schema's synchronization or DROP). */
export const DATA_LOCK = `select pg_advisory_xact_lock_shared(${PLACEMENT_DDL_LOCK_SQL})`;

/** How long the freeze waits for the organization's running transactions (`lockTimeoutMs`, default 5 s),
 *  for the rest of the transaction of `c`. */
export async function setLockTimeout(c: pg.ClientBase, ms: number | undefined): Promise<void> {
  await c.query(`select set_config('lock_timeout', $1, true)`, [`${ms ?? 5000}ms`]);
}

/**
 * One transaction of a move on a connection of `pool`, opened by `begin` (`begin`, or a repeatable-read
 * snapshot) and the shared DDL lock (`DATA_LOCK`): committed when `fn` answers, rolled back when it (or the
 * COMMIT) throws. A copy or discard batch, a catch-up round, or the freeze within one database.
 */
export async function dataTransaction<T>(
  pool: pg.Pool,
  begin: string,
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query(begin);
    await c.query(DATA_LOCK);
    const out = await fn(c);
    await c.query('commit');
    return out;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}
