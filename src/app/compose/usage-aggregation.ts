import type pg from 'pg';
import { createPool } from '../../platform/db/pool.js';
import { createUsageAggregator, type UsageAggregator } from '../../modules/usage/aggregator.js';
import { usageSettings } from '../../modules/usage/usage-settings.js';
import { keepByControlPlans } from '../../modules/quotas/quota-tenant-databases.js';
import type { TenantDatabaseAggregation } from '../../modules/billing/period-close-barrier.js';
import type { Services } from '../services.js';
import type { ComposeOptions } from './options.js';

/**
 * The usage aggregation of the control database and of each tenant database (`database` placements,
 * regions), started: one aggregator per database, run together. Each tenant database's is registered in
 * `tenantAggregation` by key (the period close waits for it: tenantDatabasesBarrier).
 */
export function startUsageAggregation({
  opts,
  controlPool,
  workerPool,
  quotaNotices,
  tenantAggregation,
}: {
  opts: ComposeOptions;
  /** The runtime role's control pool (the meters' definitions are read there). */
  controlPool: pg.Pool;
  /** The worker role's control pool. */
  workerPool: pg.Pool;
  quotaNotices: Services['quotaNotices'];
  tenantAggregation: Map<string, TenantDatabaseAggregation>;
}): UsageAggregator {
  const usage = usageSettings(opts.usage);
  const usageAggregator = createUsageAggregator({
    pool: workerPool,
    latenessMs: usage.latenessMs,
    log: opts.log,
    // Owner mails at 80 % / 100 % of a quota, for the organizations whose usage this run changed:
    // queued for a background run, the aggregator does not wait for it.
    onAggregated: (changed) => quotaNotices.schedule(changed),
  });
  // A tenant database's usage events (its `database` placements', a region's) are aggregated there, by its
  // own worker role (`workerUrl` of TENANT_DATABASES): one aggregator per such database, beside the control
  // database's. A database without a worker URL is not aggregated (logged once, docs/isolation-models.md).
  const tenantAggregators = Object.entries(opts.tenantDatabases?.databases ?? {}).flatMap(([key, d]) => {
    if (d.workerUrl === undefined) {
      opts.log.warn({ tenant_database: key }, 'usage aggregation: no workerUrl for this tenant database');
      return [];
    }
    // createPool: a lost idle connection (the tenant server restarted) is discarded, never a crash.
    const pool = createPool({ url: d.workerUrl, max: 2, applicationName: `saasready-usage-${key}` });
    const aggregator = createUsageAggregator({
      pool,
      // The meters' definitions are the control database's: copied in before the run applies them.
      hooks: { afterRead: () => copyMeters(controlPool, pool) },
      latenessMs: usage.latenessMs,
      log: opts.log.child({ tenant_database: key }),
      // Quota notices by the organizations' plans in the control database, not their row's copy here,
      // read before the run commits (a failed lookup rolls the run back: retried whole by the next).
      changedAnyPlan: true,
      keepChanged: keepByControlPlans({ workerPool, log: opts.log }),
      onAggregated: (changed) => quotaNotices.schedule(changed),
    });
    tenantAggregation.set(key, { pool, runAggregation: () => aggregator.runOnce() });
    return [{ pool, aggregator }];
  });
  const aggregators = [usageAggregator, ...tenantAggregators.map((t) => t.aggregator)];
  const allAggregators: typeof usageAggregator = {
    // A tenant database that fails its run is logged and skipped: the control database's aggregation does
    // not depend on it (the period close waits for each database's own, tenantDatabasesBarrier).
    runOnce: async () => {
      const [control, ...tenants] = await Promise.allSettled(aggregators.map((a) => a.runOnce()));
      for (const t of tenants) {
        if (t.status === 'rejected')
          opts.log.error({ err: t.reason as Error }, 'usage aggregation of a tenant database failed');
      }
      if (control!.status === 'rejected') throw control!.reason;
      return control!.value + tenants.reduce((n, t) => n + (t.status === 'fulfilled' ? t.value : 0), 0);
    },
    start: (intervalMs) => {
      for (const a of aggregators) a.start(intervalMs);
    },
    async stop() {
      await Promise.all(aggregators.map((a) => a.stop()));
      await Promise.all(tenantAggregators.map((t) => t.pool.end()));
    },
  };
  allAggregators.start(usage.aggregateEveryMs);
  return allAggregators;
}

/** The control database's meters, upserted into a tenant database (`worker_api.app_usage_meters_sync`). */
async function copyMeters(control: pg.Pool, tenantWorker: pg.Pool): Promise<void> {
  const meters = await control.query<{ all: unknown }>(
    `select coalesce(jsonb_agg(to_jsonb(m)), '[]'::jsonb) as all from meters m`,
  );
  await tenantWorker.query('select worker_api.app_usage_meters_sync($1::jsonb)', [
    JSON.stringify(meters.rows[0]?.all ?? []),
  ]);
}
