import type pg from 'pg';
import type { Logger } from 'pino';
import type { PlacementRouter } from '../../platform/tenancy/placement.js';

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

/** A tenant database's usage aggregator, as the period close runs it (`workerUrl` of TENANT_DATABASES). */
export interface TenantDatabaseAggregation {
  /** A pool of that database's worker role. */
  pool: pg.Pool;
  /** One pass of that database's aggregator. */
  runAggregation: () => Promise<unknown>;
}

/**
 * The usage of an organization being closed is not aggregated where its invoice reads it: its tenant
 * database has no aggregator (no `workerUrl`), cannot be reached, or its watermark did not get past the
 * close's mark in time. That organization is not closed this run (nothing is written) and is retried
 * next run (without a `workerUrl`, in vain until one is configured).
 */
export class UsageNotAggregatedError extends Error {
  readonly code = 'USAGE_NOT_AGGREGATED';
}

/**
 * The period close's barrier for organizations in a `database` placement. Their invoice is built in
 * their own tenant scope from the day aggregates of their TENANT database (only its number comes from the
 * control database's counter; the draft is stored there too, docs/billing.md), so the control
 * database's barrier says nothing about their usage: before one is closed, that database's own
 * aggregator must have aggregated everything committed there before the check (`aggregatedUpToNow` on
 * its worker pool, the same watermark rule).
 *
 * The period close calls it for an organization just before the first period it actually closes
 * (`beforeClosing` of `closeOrganization`), never for one with nothing to close (the control database's
 * scan lists a `database` placement's organizations every run: their invoices are in the tenant
 * database, out of its "already invoiced" filter's sight). So only the tenant databases holding
 * organizations with a period to close are waited for, each once per run (the first such organization of
 * a database starts its wait, the others of the run share it), not all of them up front: an unreachable
 * tenant database then fails only its own organizations' closes (logged by the run with the error's code,
 * retried next run, nothing written), while the control database's and the other databases'
 * organizations are invoiced on time; and a database with nothing to close is not waited for. Returns a
 * factory called once per run; its function resolves for an organization not in a `database` placement
 * and throws {@link UsageNotAggregatedError} when its database is not aggregated.
 */
export function tenantDatabasesBarrier(deps: {
  /** The placement router: an organization in a `database` placement resolves to its tenant database. */
  placements: Pick<PlacementRouter, 'resolve'>;
  /** The tenant databases' aggregators by key (those with a `workerUrl`). */
  aggregators: ReadonlyMap<string, TenantDatabaseAggregation>;
  timeoutMs: number;
  pollMs?: number;
  log: Logger;
  /** Whether the organization has a placement move under way (`placementMoveUnderWay`): its usage may be
   *  in two databases and the router answers one, so its close waits (refused as not aggregated, retried
   *  next run) until the move has ended or been aborted. */
  moveUnderWay?: (orgId: string) => Promise<boolean>;
}): () => (orgId: string) => Promise<void> {
  return () => {
    const waits = new Map<string, Promise<void>>();
    const wait = async (key: string): Promise<void> => {
      const a = deps.aggregators.get(key);
      if (a === undefined) {
        throw new UsageNotAggregatedError(
          `tenant database "${key}" has no workerUrl in TENANT_DATABASES: its usage is not aggregated`,
        );
      }
      let done: boolean;
      try {
        done = await aggregatedUpToNow({
          workerPool: a.pool,
          runAggregation: a.runAggregation,
          timeoutMs: deps.timeoutMs,
          ...(deps.pollMs !== undefined ? { pollMs: deps.pollMs } : {}),
        });
      } catch (err) {
        throw new UsageNotAggregatedError(
          `usage aggregation of tenant database "${key}" failed: ${(err as Error).message}`,
        );
      }
      if (!done) {
        throw new UsageNotAggregatedError(`usage aggregation of tenant database "${key}" is behind`);
      }
    };
    return async (orgId) => {
      if (await deps.moveUnderWay?.(orgId)) {
        throw new UsageNotAggregatedError(
          `organization ${orgId} has a placement move under way: its period is closed once the move has ended`,
        );
      }
      const target = await deps.placements.resolve(orgId);
      if (target.directory === undefined) return;
      const key = target.key;
      let w = waits.get(key);
      if (w === undefined) {
        w = wait(key);
        waits.set(key, w);
        w.catch((err: unknown) =>
          deps.log.error(
            { component: 'billing', tenant_database: key, err: (err as Error).message },
            'period close: a tenant database is not aggregated; its organizations are closed next run',
          ),
        );
      }
      await w;
    };
  };
}
