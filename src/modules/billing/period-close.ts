import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { PricingPeriod } from './pricing/price-invoice.js';
import type { BillingInputs } from './billing-inputs.js';
import type { BillingService } from './billing.service.js';
import { addDays, utcDate } from './billing-period.js';
import * as repo from './period-close.repository.js';

/** The scheduled period close of the local billing provider (graphile-worker crontab, hourly at minute 41). */
export const PERIOD_CLOSE_TASK = 'billing_close_periods';
export const PERIOD_CLOSE_CRONTAB = `41 * * * * ${PERIOD_CLOSE_TASK}\n`;

/**
 * Time after the lateness window before a period is closed: covers a request that checked an event's
 * timestamp just before the window passed and stores it a moment later, and clocks of instances that
 * differ a little. Periods end at midnight UTC and the window is whole days, so with the hourly run at
 * minute 41 a period closes at 00:41 UTC on the day its window passes.
 */
export const SETTLE_MS = 15 * 60_000;

/** At most this many periods of one organization are closed per run (see `closeOrganization`). */
export const MAX_PERIODS_PER_RUN = 12;

/**
 * The last day a closable period may end on (exclusive end, `YYYY-MM-DD`): a period is closed once
 * `end + lateness + SETTLE_MS` has passed.
 */
export function closeCutoff(now: Date, latenessMs: number): string {
  return utcDate(new Date(now.getTime() - latenessMs - SETTLE_MS));
}

export interface PeriodCloser {
  /**
   * Closes the organization's ended periods that have no invoice, whose end is on or before `cutoff`:
   * from the last such period back to the most recent one that has an invoice (any status, void
   * included), one that ended before the organization was created, or `MAX_PERIODS_PER_RUN` periods,
   * whichever comes first; then closes them oldest first (`closePeriod`, idempotent: a period closed
   * meanwhile, by another run or instance, is returned as it is and takes no number). Periods beyond the
   * cap stay open for good (the next run stops at the invoiced ones): an explicit `closePeriod` closes
   * them. Returns the invoices created.
   */
  closeOrganization(orgId: string, cutoff: string): Promise<number>;
}

export function createPeriodCloser(deps: {
  withTenant: WithTenant;
  inputs: Pick<BillingInputs, 'periodContaining'>;
  billing: Pick<BillingService, 'closePeriod'>;
}): PeriodCloser {
  return {
    async closeOrganization(orgId, cutoff) {
      const ctx = systemCtx(orgId, 'billing.period-close', `job:${PERIOD_CLOSE_TASK}:${randomUUID()}`);
      const createdAt = await deps.withTenant(orgId, (db) => repo.organizationCreatedAt(db, orgId), {
        mode: 'read',
      });
      if (!createdAt) return 0;
      const createdDay = utcDate(createdAt);
      const open: PricingPeriod[] = [];
      let day = addDays(cutoff, -1);
      for (let guard = 0; open.length < MAX_PERIODS_PER_RUN && guard < MAX_PERIODS_PER_RUN + 2; guard++) {
        const period = await deps.inputs.periodContaining(ctx, day);
        day = addDays(period.start, -1);
        if (period.end > cutoff) continue; // not closable yet: the one before may be
        if (period.end <= createdDay) break; // ended before the organization existed
        const invoiced = await deps.withTenant(orgId, (db) => repo.periodHasInvoice(db, orgId, period), {
          mode: 'read',
        });
        if (invoiced) break;
        open.push(period);
      }
      let created = 0;
      for (const period of open.reverse()) {
        const res = await deps.billing.closePeriod(ctx, { start: period.start, end: period.end });
        if (res.created) created += 1;
      }
      return created;
    },
  };
}

/**
 * The hourly task: waits for the usage aggregator to catch up (every event stored so far in its day
 * buckets: no event of a closable period can still arrive, see `SETTLE_MS`), then pages through the
 * organizations created before the cutoff (a named worker-role query, ids only) and closes each one's
 * periods in its own tenant scope. One organization's failure is logged and does not stop the others; the
 * next run retries it. Scheduled by graphile-worker's crontab, so with several instances it runs once per
 * hour; were two runs to overlap, `closePeriod` is idempotent per organization and period.
 */
export function createPeriodCloseJobHandler(deps: {
  /** Organizations created before the instant (`billingOrganizations` on the worker pool). */
  organizations: (createdBefore: Date, after: string | null, limit: number) => Promise<string[]>;
  /** True once the aggregator has processed every event stored before the call (period-close-barrier.ts). */
  aggregatedUpToNow: () => Promise<boolean>;
  closer: PeriodCloser;
  latenessMs: number;
  log: Logger;
  /** The clock (tests). */
  now?: () => Date;
  pageSize?: number;
}): JobHandler {
  const now = deps.now ?? (() => new Date());
  const pageSize = deps.pageSize ?? 500;
  return async () => {
    const cutoff = closeCutoff(now(), deps.latenessMs);
    if (!(await deps.aggregatedUpToNow())) {
      deps.log.warn({ component: 'billing', cutoff }, 'period close postponed: usage aggregation is behind');
      return;
    }
    // An organization created on the cutoff day or later has no period ending on or before it.
    const createdBefore = new Date(`${cutoff}T00:00:00Z`);
    let after: string | null = null;
    let invoices = 0;
    let failed = 0;
    for (;;) {
      const ids = await deps.organizations(createdBefore, after, pageSize);
      for (const id of ids) {
        try {
          invoices += await deps.closer.closeOrganization(id, cutoff);
        } catch (err) {
          failed += 1;
          deps.log.error(
            { component: 'billing', tenant_id: id, err: (err as Error).message },
            'period close failed: retried next run',
          );
        }
      }
      if (ids.length < pageSize) break;
      after = ids[ids.length - 1]!;
    }
    deps.log.info({ component: 'billing', cutoff, invoices, failed }, 'billing periods closed');
  };
}
