import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * The usage aggregator, on a pool of the WORKER role (it reads every organization's new events: the
 * definer functions of migration 0017 are its only way in). One run is one transaction:
 * 1. `app_usage_aggregate_begin` locks the watermark (SKIP LOCKED: another instance's run is under way,
 *    so this one does nothing) and answers [horizon, xmin of the current snapshot): every transaction id
 *    below xmin has ended, so no event can still appear below it. Ingestion order is not commit order;
 *    transaction ids below the snapshot's xmin are all settled, which a sequence would not be.
 * 2. `app_usage_aggregate_apply` merges the events of that range into their minute/hour/day buckets, and
 *    the distinct values of its `unique_count` events into their UTC months (`usage_unique_values`,
 *    migration 0063).
 * 3. `app_usage_aggregate_commit` moves the watermark to the end of the range.
 * A crash anywhere rolls back all three: no event is lost or counted twice.
 */
export interface UsageAggregator {
  /** One run; returns how many events it aggregated (0 also when another run holds the watermark). */
  runOnce(): Promise<number>;
  /** Runs every `intervalMs` until stopped. */
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

export interface AggregatorHooks {
  /** Called between reading the range and writing the aggregates (tests inject a crash here). */
  afterRead?: (range: { from: string; to: string }) => Promise<void> | void;
  /** Called after writing the aggregates, before moving the watermark. */
  beforeCommit?: () => Promise<void> | void;
}

export function createUsageAggregator(deps: {
  pool: pg.Pool;
  /** Events older than this are never new (the ingestion lateness window): it bounds the partitions read. */
  latenessMs: number;
  log?: Logger;
  hooks?: AggregatorHooks;
  /** After a run that aggregated events commits: the organizations with quotas that had events in it
   *  (their plan read from the aggregated database; all of them with `changedAnyPlan`),
   *  with the UTC days of those events (quota notices, src/modules/quotas). Not awaited: it must only
   *  queue its work (the run does not wait for it); a throw is logged, the run stays committed. */
  onAggregated?: (changed: { organizationId: string; day: Date }[]) => void;
  /** `onAggregated` is given every organization that had events, whatever its plan (a tenant database:
   *  its organizations' plans are the control database's, which `keepChanged` reads; migration 0074). */
  changedAnyPlan?: boolean;
  /** Which of the run's changes `onAggregated` is given, decided before the run commits: a throw rolls
   *  the run back (nothing aggregated, the watermark unmoved), so the next run does it all again. */
  keepChanged?: (
    changed: { organizationId: string; day: Date }[],
  ) => Promise<{ organizationId: string; day: Date }[]>;
}): UsageAggregator {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | null = null;
  let stopped = false;

  async function runOnce(): Promise<number> {
    const { n, changed } = await aggregate();
    if (changed.length > 0) {
      // After the commit and with the worker connection released; the hook only queues its work.
      try {
        deps.onAggregated!(changed);
      } catch (err) {
        deps.log?.error({ component: 'usage', err }, 'after-aggregation hook failed');
      }
    }
    return n;
  }

  async function aggregate(): Promise<{ n: number; changed: { organizationId: string; day: Date }[] }> {
    const client = await deps.pool.connect();
    try {
      await client.query('begin');
      const range = await client.query<{ from_xid: string; to_xid: string; last_moved: Date }>(
        'select from_xid::text, to_xid::text, last_moved from worker_api.app_usage_aggregate_begin()',
      );
      const r = range.rows[0];
      if (!r || r.from_xid === r.to_xid) {
        await client.query('commit');
        return { n: 0, changed: [] };
      }
      await deps.hooks?.afterRead?.({ from: r.from_xid, to: r.to_xid });
      // Every event of the range was accepted after the watermark last moved, so none is older than that
      // moment minus the lateness window (a day of margin for transactions that were already running).
      // Only partitions from there on are read, however long the aggregator was stopped.
      const since = new Date(Math.min(Date.now(), r.last_moved.getTime()) - deps.latenessMs - 86_400_000);
      const applied = await client.query<{ n: string }>(
        'select worker_api.app_usage_aggregate_apply($1::xid8, $2::xid8, $3) as n',
        [r.from_xid, r.to_xid, since],
      );
      const listed = deps.onAggregated
        ? (
            await client.query<{ org_id: string; day_start: Date }>(
              `select org_id, day_start from worker_api.${
                deps.changedAnyPlan ? 'app_usage_changed_any_plan' : 'app_usage_changed_organizations'
              }($1::xid8, $2::xid8, $3)`,
              [r.from_xid, r.to_xid, since],
            )
          ).rows.map((x) => ({ organizationId: x.org_id, day: x.day_start }))
        : [];
      const changed = deps.keepChanged && listed.length > 0 ? await deps.keepChanged(listed) : listed;
      await deps.hooks?.beforeCommit?.();
      await client.query('select worker_api.app_usage_aggregate_commit($1::xid8, $2::xid8)', [
        r.from_xid,
        r.to_xid,
      ]);
      await client.query('commit');
      const n = Number(applied.rows[0]?.n ?? 0);
      if (n > 0) deps.log?.debug({ component: 'usage', events: n }, 'usage aggregated');
      return { n, changed };
    } catch (err) {
      await client.query('rollback').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  return {
    runOnce,
    start(intervalMs) {
      const tick = () => {
        if (stopped) return;
        running = runOnce()
          .catch((err: unknown) => deps.log?.error({ component: 'usage', err }, 'usage aggregation failed'))
          .finally(() => {
            running = null;
            if (!stopped) timer = setTimeout(tick, intervalMs);
          });
      };
      timer = setTimeout(tick, intervalMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** The scheduled partition maintenance task (graphile-worker crontab, hourly at minute 23). */
export const USAGE_PARTITIONS_TASK = 'usage_partitions';
export const USAGE_PARTITIONS_CRONTAB = `23 * * * * ${USAGE_PARTITIONS_TASK}\n`;

export interface PartitionSettings {
  /** The ingestion lateness window: partitions that far back must exist, keys are kept that long. */
  latenessMs: number;
  /** Days of partitions created ahead of today (UTC). */
  aheadDays: number;
  /** Days of raw events kept; older daily partitions are dropped. */
  retentionDays: number;
}

/**
 * The first month whose distinct values (`usage_unique_values`) are kept at `now`: the month in which raw
 * event retention begins, but never after January 1 of the previous year. A yearly billing period bills a
 * `unique_count` meter on the distinct values of all its months, so they must outlive a retention shorter
 * than a year until that period, and the one before it (closed shortly after it ends), are billed.
 */
export function uniqueValuesKeptFrom(now: number, retentionDays: number): string {
  const oldest = new Date(now - retentionDays * 86_400_000);
  const byRetention = Date.UTC(oldest.getUTCFullYear(), oldest.getUTCMonth(), 1);
  const previousYear = Date.UTC(new Date(now).getUTCFullYear() - 1, 0, 1);
  return new Date(Math.min(byRetention, previousYear)).toISOString().slice(0, 10);
}

/**
 * Creates the daily partitions of [today - lateness - 1 day, today + ahead], drops those past retention
 * (DDL: `worker_api.app_usage_partitions`, owned by the owner role, executable by the worker role only),
 * purges idempotency keys of events older than the lateness window plus a day (no event that old is
 * accepted again, so its key can go), and drops the distinct values of the months before
 * {@link uniqueValuesKeptFrom} (`worker_api.app_usage_unique_purge`).
 */
export async function maintainUsagePartitions(
  pool: pg.Pool,
  s: PartitionSettings,
  log?: Logger,
): Promise<{ created: number; dropped: number; keysPurged: number; uniquePurged: number }> {
  const back = Math.ceil(s.latenessMs / 86_400_000) + 1;
  const res = await pool.query<{ created: number; dropped: number }>(
    'select * from worker_api.app_usage_partitions($1, $2, $3)',
    [back, s.aheadDays, s.retentionDays],
  );
  const before = new Date(Date.now() - s.latenessMs - 86_400_000);
  let keysPurged = 0;
  for (;;) {
    const purged = await pool.query<{ n: number }>('select worker_api.app_usage_purge_keys($1, 10000) as n', [
      before,
    ]);
    const n = purged.rows[0]?.n ?? 0;
    keysPurged += n;
    if (n < 10000) break;
  }
  const keptFrom = uniqueValuesKeptFrom(Date.now(), s.retentionDays);
  let uniquePurged = 0;
  for (;;) {
    const purged = await pool.query<{ n: number }>(
      'select worker_api.app_usage_unique_purge($1::date, 10000) as n',
      [keptFrom],
    );
    const n = purged.rows[0]?.n ?? 0;
    uniquePurged += n;
    if (n < 10000) break;
  }
  const out = {
    created: res.rows[0]?.created ?? 0,
    dropped: res.rows[0]?.dropped ?? 0,
    keysPurged,
    uniquePurged,
  };
  log?.info({ component: 'usage', ...out }, 'usage partitions maintained');
  return out;
}
