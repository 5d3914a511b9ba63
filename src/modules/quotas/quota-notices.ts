import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import type { MailMessage } from '../../platform/mail/mailer.js';
import { uuidv7 } from '../../platform/ids.js';
import * as repo from './quotas.repository.js';

/**
 * Owner mails when usage reaches a quota: soft quotas at 80 % and at 100 %, hard quotas at 100 % (the
 * point where requests start being refused). Each threshold once per organization, meter, period and
 * period start: the `quota_notices` row is inserted with ON CONFLICT DO NOTHING and the mails are queued
 * (`enqueueJob`, the mail job) in the SAME transaction, so a notice exists if and only if its mails were
 * queued, and a second run, on this or another instance, concurrently or later, inserts nothing and
 * queues nothing. When usage jumps past both thresholds at once both rows are written but only the 100 %
 * mail is sent.
 *
 * Run by the aggregator after each run, for the organizations whose events it aggregated, on the
 * aggregated usage (the same numbers the summaries show). A notice is sent on the first run that sees the
 * threshold reached; if that check fails (or the process dies in between) the next run that aggregates
 * events of that organization sends it, since the check compares the usage reached, not a crossing.
 */
export interface QuotaNotices {
  /** Checks the organizations; returns how many notices were recorded (mails queued: one per owner). */
  check(orgIds: readonly string[]): Promise<number>;
}

/** Organizations checked at once after an aggregator run. */
const CONCURRENCY = 4;

export function createQuotaNotices(deps: {
  withTenant: WithTenant;
  publicUrl: string;
  now?: () => number;
  log?: Logger;
}): QuotaNotices {
  const now = deps.now ?? Date.now;
  const base = deps.publicUrl.replace(/\/$/, '');

  async function checkOne(orgId: string): Promise<number> {
    return deps.withTenant(orgId, async (db) => {
      const t = now();
      let recorded = 0;
      for (const q of await repo.quotaUsage(db, orgId, t)) {
        const reached: (80 | 100)[] = [];
        if (q.usage > 0 && q.usage >= q.limit) reached.push(100);
        if (q.enforcement === 'soft' && q.usage > 0 && q.usage * 100 >= q.limit * 80) reached.push(80);
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
        if (mailAt === null) continue;
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
      }
      return recorded;
    });
  }

  return {
    async check(orgIds) {
      // A few organizations at a time: one short transaction each, without holding up the aggregator's
      // next run for long nor taking the whole pool.
      let total = 0;
      let next = 0;
      const lane = async () => {
        while (next < orgIds.length) {
          const orgId = orgIds[next++]!;
          try {
            total += await checkOne(orgId);
          } catch (err) {
            deps.log?.error({ component: 'quotas', org: orgId, err }, 'quota notice check failed');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, orgIds.length) }, lane));
      return total;
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
  const what = `${q.meter} (${q.usage} of ${q.limit} this ${q.period})`;
  const reset = new Date(q.periodEnd).toISOString();
  const consequence =
    q.enforcement === 'hard'
      ? `Further ${q.meter} are refused (429 QUOTA_EXCEEDED) until ${reset}.`
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
