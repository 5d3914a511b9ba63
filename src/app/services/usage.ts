import { createMetersService } from '../../modules/usage/meters.service.js';
import { allMeters, toDef } from '../../modules/usage/meters.repository.js';
import { createMeterCatalog } from '../../modules/usage/meter-catalog.js';
import { createUsageEventsService } from '../../modules/usage/usage-events.service.js';
import { createUsageSummaryService } from '../../modules/usage/usage-summary.service.js';
import { createUsageRecorder } from '../../modules/usage/record-usage.js';
import { usageSettings } from '../../modules/usage/usage-settings.js';
import { createApiRequestsQuota } from '../../modules/quotas/quota-hook.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** Metering: the meter catalog, usage events and their summaries, the API requests' quota. */
export function createUsage(deps: ServiceDeps, { quotaCounters }: Caches) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant } = tenancy;
  const meterCatalog = createMeterCatalog({
    load: async () => (await allMeters(platformDb)).map(toDef),
  });
  const usage = usageSettings(opts.usage);
  const usageEvents = createUsageEventsService({
    withTenant,
    meters: meterCatalog,
    settings: { latenessMs: usage.latenessMs, futureMs: usage.futureMs },
    quotas: quotaCounters,
  });
  return {
    meters: createMetersService({ db: platformDb, changed: () => meterCatalog.forget() }),
    usageEvents,
    usageSummary: createUsageSummaryService({ withTenant, meters: meterCatalog }),
    usageRecorder: createUsageRecorder({
      events: usageEvents,
      flushMs: usage.recordFlushMs,
      log: opts.log,
    }),
    apiRequestsQuota: createApiRequestsQuota(quotaCounters),
  };
}
