import type pg from 'pg';
import { createUsageAggregator } from '../../src/modules/usage/aggregator.js';

const DAY = 86_400_000;

/**
 * Runs the usage aggregator (a fresh one over `workerPool` unless given) until its watermark is past
 * every transaction committed before the call; throws after 60 s. The watermark cannot pass a transaction
 * still open anywhere in the cluster (its horizon is the cluster's), and other test files' transactions
 * hold it back for seconds at a time on a busy machine: 5 s was not always enough.
 */
export async function drainAggregator(
  admin: pg.Client,
  workerPool: pg.Pool,
  aggregator = createUsageAggregator({ pool: workerPool, latenessMs: 7 * DAY }),
): Promise<void> {
  const target = await admin.query<{ x: string }>('select pg_current_xact_id()::text as x');
  for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
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
