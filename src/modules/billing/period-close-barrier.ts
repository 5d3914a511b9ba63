import type pg from 'pg';

/**
 * Waits until the usage aggregator has processed every event stored before the call: the watermark
 * (`usage_aggregator_state.horizon`, an xid8) must pass a transaction id taken at the start
 * (`pg_current_xact_id()` of a statement of its own: every id assigned before is lower), so every
 * transaction that had written before then has ended and its events are in their day buckets. (Not a
 * snapshot's `xmax`: that is the latest completed id plus one, below transactions still running.)
 * Runs aggregation passes itself (`runAggregation`, the aggregator's `runOnce`) rather than waiting for
 * the periodic run; a pass that another instance holds just makes it look again. Worker role: it reads
 * the watermark through `worker_api.app_usage_aggregate_begin` (taking the lock for a moment and rolling
 * back). Answers false when the watermark has not got there within `timeoutMs` (a transaction left open
 * somewhere holds the snapshot's xmin back): the caller closes nothing this time.
 */
export async function aggregatedUpToNow(deps: {
  workerPool: pg.Pool;
  runAggregation: () => Promise<unknown>;
  timeoutMs: number;
  pollMs?: number;
}): Promise<boolean> {
  const target = await deps.workerPool.query<{ x: string }>('select pg_current_xact_id()::text as x');
  const mark = BigInt(target.rows[0]!.x);
  const deadline = Date.now() + deps.timeoutMs;
  for (;;) {
    await deps.runAggregation();
    const horizon = await watermark(deps.workerPool);
    if (horizon !== null && horizon > mark) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, deps.pollMs ?? 200));
  }
}

/** The aggregator's watermark, or null while a run holds it. */
async function watermark(pool: pg.Pool): Promise<bigint | null> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    const res = await client.query<{ from_xid: string }>(
      'select from_xid::text from worker_api.app_usage_aggregate_begin()',
    );
    return res.rows[0] ? BigInt(res.rows[0].from_xid) : null;
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
}
