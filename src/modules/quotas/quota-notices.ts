import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import type { MailMessage } from '../../platform/mail/mailer.js';
import { uuidv7 } from '../../platform/ids.js';
import { formatScaled } from '../usage/record-usage.js';
import { UNIT } from './quota-model.js';
import * as repo from './quotas.repository.js';

/**
 * Owner mails when usage reaches a quota: soft quotas at 80 % and at 100 %, hard quotas at 100 % (the
 * point where requests start being refused) and when the instance refuses something for a hard quota
 * (the usage may stop short of the limit: a weighted event that does not fit). Each threshold once per
 * organization, meter, period and period start: the `quota_notices` row is inserted with ON CONFLICT DO
 * NOTHING and the mails are queued (`enqueueJob`, the mail job) in the SAME transaction, so a notice
 * exists if and only if its mails were queued, and a second run, on this or another instance,
 * concurrently or later, inserts nothing and queues nothing. When usage jumps past both thresholds at
 * once both rows are written but only the 100 % mail is sent.
 *
 * Checked in the background, never on the aggregator's or a request's path: `schedule` (after each
 * aggregator run, the organizations whose events it aggregated with the UTC days those events fall in,
 * so a crossing at 23:59:58 aggregated after midnight is checked in its own period) and `refused` merge
 * into one queue that a single run drains, a few organizations at a time. The check compares the usage
 * reached, not a crossing, so a check that failed is made good by the next one for that organization.
 */
export interface QuotaNotices {
  /** Queues a check of these organizations' quotas of the periods holding these days; returns at once. */
  schedule(changes: readonly { organizationId: string; day: Date }[]): void;
  /** Queues the limit-reached notice of a hard quota the instance refused something for. */
  refused(orgId: string, q: repo.QuotaUsageRow): void;
  /** Checks now (what the background run does); returns how many notices were recorded. */
  check(orgIds: readonly string[], days?: ReadonlyMap<string, readonly number[]>): Promise<number>;
  /** Resolves once the queue is empty and no run is under way (tests, shutdown). */
  idle(): Promise<void>;
}

/** Organizations checked at once. */
const CONCURRENCY = 4;

export function createQuotaNotices(deps: {
  withTenant: WithTenant;
  publicUrl: string;
  /** The ingestion lateness window: a monthly `unique_count` usage is read as the hard quotas read it
   *  (`quotaUsage`: the month's distinct values and the events past the aggregator's watermark, those
   *  partitions only that a late event can still be in). */
  latenessMs: number;
  now?: () => number;
  log?: Logger;
}): QuotaNotices {
  const now = deps.now ?? Date.now;
  const base = deps.publicUrl.replace(/\/$/, '');
  /** Queued: per organization, the days whose periods to check, and the refusals to notify. */
  const queued = new Map<string, { days: Set<number>; refused: repo.QuotaUsageRow[] }>();
  let running: Promise<void> | null = null;

  async function notify(
    db: TenantDb,
    orgId: string,
    q: repo.QuotaUsageRow,
    reached: readonly (80 | 100)[],
  ): Promise<number> {
    let recorded = 0;
    let mailAt: 80 | 100 | null = null;
    for (const threshold of reached) {
      const inserted = await repo.insertNotice(db, {
        organizationId: orgId,
        id: uuidv7(),
        meter: q.meter,
        period: q.period,
        periodStart: new Date(q.periodStart),
        threshold,
        enforcement: q.enforcement,
        limit: q.limit,
        usage: q.usage,
      });
      if (inserted) {
        recorded++;
        mailAt ??= threshold; // the highest threshold newly reached (100 is tried first)
      }
    }
    if (mailAt === null) return recorded;
    const { name, slug, owners } = await repo.ownersOf(db, orgId);
    const billingUrl = `${base}/o/${encodeURIComponent(slug)}/billing`;
    const start = new Date(q.periodStart).toISOString();
    for (const o of owners) {
      await enqueueJob(
        db,
        MAIL_TASK,
        { tenantId: orgId, payload: noticeMail(o.email, name, q, mailAt, billingUrl) },
        { jobKey: `quota:${q.meter}:${q.period}:${start}:${mailAt}:${o.userId}` },
      );
    }
    return recorded;
  }

  async function checkOne(orgId: string, days: readonly number[], refused: readonly repo.QuotaUsageRow[]) {
    return deps.withTenant(orgId, async (db) => {
      let recorded = 0;
      const seen = new Set<string>();
      for (const day of days) {
        for (const q of await repo.quotaUsage(db, orgId, day, deps.latenessMs)) {
          const k = `${q.meter}:${q.period}:${q.periodStart}`;
          if (seen.has(k)) continue; // a month already checked for an earlier day
          seen.add(k);
          const reached: (80 | 100)[] = [];
          const limit = BigInt(q.limit) * UNIT;
          if (q.usage > 0n && q.usage >= limit) reached.push(100);
          if (q.enforcement === 'soft' && q.usage > 0n && q.usage * 100n >= limit * 80n) reached.push(80);
          if (reached.length > 0) recorded += await notify(db, orgId, q, reached);
        }
      }
      for (const q of refused) recorded += await notify(db, orgId, q, [100]);
      return recorded;
    });
  }

  async function checkAll(
    work: readonly [string, { days: Iterable<number>; refused: repo.QuotaUsageRow[] }][],
  ): Promise<number> {
    let total = 0;
    let next = 0;
    const lane = async () => {
      while (next < work.length) {
        const [orgId, w] = work[next++]!;
        try {
          total += await checkOne(orgId, [...w.days], w.refused);
        } catch (err) {
          deps.log?.error({ component: 'quotas', org: orgId, err }, 'quota notice check failed');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, work.length) }, lane));
    return total;
  }

  function entry(orgId: string) {
    let e = queued.get(orgId);
    if (!e) queued.set(orgId, (e = { days: new Set(), refused: [] }));
    return e;
  }

  function kick(): void {
    if (running) return;
    running = (async () => {
      while (queued.size > 0) {
        const work = [...queued];
        queued.clear();
        await checkAll(work);
      }
    })().finally(() => {
      running = null;
    });
  }

  return {
    schedule(changes) {
      if (changes.length === 0) return;
      for (const c of changes) entry(c.organizationId).days.add(c.day.getTime());
      kick();
    },
    refused(orgId, q) {
      entry(orgId).refused.push(q);
      kick();
    },
    check(orgIds, days) {
      const t = now();
      return checkAll(orgIds.map((o) => [o, { days: days?.get(o) ?? [t], refused: [] }]));
    },
    async idle() {
      while (running) await running;
    },
  };
}

export function noticeMail(
  to: string,
  organizationName: string,
  q: repo.QuotaUsageRow,
  threshold: 80 | 100,
  billingUrl: string,
): MailMessage {
  const what = `${q.meter} (${formatScaled(q.usage)} of ${q.limit} this ${q.period})`;
  const reset = new Date(q.periodEnd).toISOString();
  const consequence =
    q.enforcement === 'hard'
      ? `Further ${q.meter} that do not fit are refused (429 QUOTA_EXCEEDED) until ${reset}.`
      : `This is a soft quota: nothing is refused. It resets at ${reset}.`;
  const subject =
    threshold === 100
      ? `${organizationName} reached its ${q.meter} quota`
      : `${organizationName} used 80 % of its ${q.meter} quota`;
  return {
    to,
    subject,
    text: `${subject}: ${what}.\n\n${consequence}\n\nSee usage and change plan: ${billingUrl}\n`,
  };
}
