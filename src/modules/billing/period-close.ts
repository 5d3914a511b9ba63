import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import type { BillingInputs } from './billing-inputs.js';
import type { BillingService } from './billing.service.js';
import { utcDate } from './billing-period.js';
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

/**
 * At most this many periods of one organization are closed per run; the rest are closed by the next runs
 * (the walk goes on from the last invoiced period, so none is dropped).
 */
export const MAX_PERIODS_PER_RUN = 12;

/** Organizations closed at the same time by one run (each close is a few reads and one short write). */
export const CLOSE_CONCURRENCY = 4;

/**
 * A run starts no new organization after this long (the job slot is not held for hours on a large
 * deployment); the organizations left are still returned by the scan, so the next run goes on with them.
 */
export const RUN_BUDGET_MS = 10 * 60_000;

/**
 * The last day a closable period may end on (exclusive end, `YYYY-MM-DD`): a period is closed once
 * `end + lateness + SETTLE_MS` has passed.
 */
export function closeCutoff(now: Date, latenessMs: number): string {
  return utcDate(new Date(now.getTime() - latenessMs - SETTLE_MS));
}

/**
 * The organization's periods cannot be walked: the period after its last invoiced one starts before that
 * one ends (its plan history changes the billing interval mid-period). Needs an operator (docs/billing.md).
 */
export class PeriodWalkError extends Error {
  readonly code = 'PERIOD_OVERLAPS_INVOICED';
}

export interface PeriodCloser {
  /**
   * Closes the organization's ended periods that have no invoice, oldest first, walking forward period by
   * period from the latest of: its creation day, `startsOn` (the deployment's billing start: only periods
   * ending after it are closed), the end of its latest invoiced period (any status, void included). Each
   * period starts where the one before ended; one that would start earlier (a billing interval changed
   * mid-period) throws {@link PeriodWalkError} rather than skip anything. Stops at the first period ending
   * after `cutoff`, at the first failure (thrown: later periods wait, so an organization's numbers follow
   * its periods), or after `MAX_PERIODS_PER_RUN` periods (the next run goes on). `closePeriod` is
   * idempotent: a period closed meanwhile is returned as it is and takes no number. Returns the invoices
   * created. `beforeClosing`, when given, is awaited once, just before the first period actually closed
   * (the usage barrier of a `database` placement: nothing is waited for when nothing is to be closed); a
   * throw fails the organization's close with nothing written.
   */
  closeOrganization(
    orgId: string,
    bounds: { cutoff: string; startsOn: string; beforeClosing?: () => Promise<void> },
  ): Promise<number>;
}

const latest = (...days: (string | undefined)[]) =>
  days.reduce<string>((a, b) => (b !== undefined && b > a ? b : a), '');

export function createPeriodCloser(deps: {
  withTenant: WithTenant;
  inputs: Pick<BillingInputs, 'periodContaining'>;
  billing: Pick<BillingService, 'closePeriod'>;
}): PeriodCloser {
  return {
    async closeOrganization(orgId, { cutoff, startsOn, beforeClosing }) {
      const ctx = systemCtx(orgId, 'billing.period-close', `job:${PERIOD_CLOSE_TASK}:${randomUUID()}`);
      const found = await deps.withTenant(
        orgId,
        async (db) => ({
          createdAt: await repo.organizationCreatedAt(db, orgId),
          lastEnd: await repo.lastInvoicedPeriodEnd(db, orgId),
        }),
        { mode: 'read' },
      );
      if (!found.createdAt) return 0;
      // The end of the period closed last (by an earlier run, then by this one): the next starts there.
      let lastEnd = found.lastEnd;
      let day = latest(utcDate(found.createdAt), startsOn, lastEnd);
      let created = 0;
      for (let i = 0; i < MAX_PERIODS_PER_RUN; i++) {
        const period = await deps.inputs.periodContaining(ctx, day);
        if (lastEnd !== undefined && period.start < lastEnd) {
          throw new PeriodWalkError(
            `the period ${period.start}..${period.end} (containing ${day}) overlaps the last invoiced ` +
              `period, which ends ${lastEnd}: the billing interval changed mid-period`,
          );
        }
        if (period.end > cutoff) break;
        if (i === 0) await beforeClosing?.();
        const res = await deps.billing.closePeriod(ctx, { start: period.start, end: period.end });
        if (res.created) created += 1;
        day = period.end;
        lastEnd = period.end;
      }
      return created;
    },
  };
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function forEachBounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

/**
 * The hourly task: waits for the usage aggregator to catch up (every event stored so far in its day
 * buckets: no event of a closable period can still arrive, see `SETTLE_MS`; for an organization in a
 * `database` placement, its tenant database's aggregator, checked just before its first period to close,
 * so not at all when it has none), then pages through the
 * organizations that may have a period to close (a named worker-role query, ids only, leaving out those
 * already invoiced for the last closable period) and closes each one's periods in its own tenant scope,
 * `CLOSE_CONCURRENCY` at a time, starting none after `RUN_BUDGET_MS`. One organization's failure does not
 * stop the others: it is logged at error level with its `tenant_id`, the period's error code and message,
 * and the run's summary lists the organizations that failed (at error level while any did), every run
 * until it succeeds. Scheduled by graphile-worker's crontab, so with several instances it runs once per
 * hour; were two runs to overlap, `closePeriod` is idempotent per organization and period.
 */
export function createPeriodCloseJobHandler(deps: {
  /** Organizations to look at (`billingOrganizations` on the worker pool). */
  organizations: (
    cutoff: string,
    after: string | null,
    limit: number,
  ) => Promise<{ id: string; startsOn: string }[]>;
  /** True once the aggregator has processed every event stored before the call (period-close-barrier.ts). */
  aggregatedUpToNow: () => Promise<boolean>;
  /**
   * Per run, the check that an organization's usage is aggregated where its invoice reads it (a `database`
   * placement's tenant database: `tenantDatabasesBarrier`), made just before its first period to close
   * (never for an organization with nothing to close); a throw fails that organization's close this run,
   * as any failure does.
   */
  organizationAggregated?: () => (orgId: string) => Promise<void>;
  closer: PeriodCloser;
  latenessMs: number;
  log: Logger;
  /** The clock (tests). */
  now?: () => Date;
  pageSize?: number;
  concurrency?: number;
  budgetMs?: number;
}): JobHandler {
  const now = deps.now ?? (() => new Date());
  const pageSize = deps.pageSize ?? 500;
  const budgetMs = deps.budgetMs ?? RUN_BUDGET_MS;
  return async () => {
    const started = Date.now();
    const cutoff = closeCutoff(now(), deps.latenessMs);
    if (!(await deps.aggregatedUpToNow())) {
      deps.log.warn({ component: 'billing', cutoff }, 'period close postponed: usage aggregation is behind');
      return;
    }
    const aggregated = deps.organizationAggregated?.();
    let after: string | null = null;
    let invoices = 0;
    let unfinished = false;
    const failed: string[] = [];
    for (;;) {
      const orgs = await deps.organizations(cutoff, after, pageSize);
      await forEachBounded(orgs, deps.concurrency ?? CLOSE_CONCURRENCY, async (org) => {
        if (Date.now() - started > budgetMs) {
          unfinished = true;
          return;
        }
        try {
          invoices += await deps.closer.closeOrganization(org.id, {
            cutoff,
            startsOn: org.startsOn,
            ...(aggregated ? { beforeClosing: () => aggregated(org.id) } : {}),
          });
        } catch (err) {
          failed.push(org.id);
          deps.log.error(
            {
              component: 'billing',
              tenant_id: org.id,
              cutoff,
              code: (err as { code?: unknown }).code,
              err: (err as Error).message,
            },
            'period close failed: this organization and its later periods stay open; retried next run',
          );
        }
      });
      if (unfinished || orgs.length < pageSize) break;
      after = orgs[orgs.length - 1]!.id;
    }
    const summary = { component: 'billing', cutoff, invoices, failed: failed.length, unfinished };
    if (failed.length > 0) {
      deps.log.error(
        { ...summary, failed_tenant_ids: failed.slice(0, 100) },
        'billing periods closed, some organizations failed',
      );
    } else {
      deps.log.info(summary, 'billing periods closed');
    }
  };
}
