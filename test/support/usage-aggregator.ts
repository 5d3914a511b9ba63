import type pg from 'pg';
import { createUsageAggregator } from '../../src/modules/usage/aggregator.js';

const DAY = 86_400_000;

/**
 * Runs the usage aggregator (a fresh one over `workerPool` unless given) until its watermark is past
 * every transaction committed before the call; throws after 100 runs.
 */
export async function drainAggregator(
  admin: pg.Client,
  workerPool: pg.Pool,
  aggregator = createUsageAggregator({ pool: workerPool, latenessMs: 7 * DAY }),
): Promise<void> {
  const target = await admin.query<{ x: string }>('select pg_current_xact_id()::text as x');
  for (let i = 0; i < 100; i++) {
    await aggregator.runOnce();
    const h = await admin.query<{ done: boolean }>(
      'select horizon > $1::xid8 as done from usage_aggregator_state',
      [target.rows[0]!.x],
    );
    if (h.rows[0]!.done) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the aggregator did not reach the watermark');
}
