import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import type { MailMessage } from '../../platform/mail/mailer.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { BillingMail } from './stripe-billing-state.js';
import { ownersToMail } from './stripe.repository.js';

/** `paid_still_suspended`: paid, but an administrator's suspension stays (instead of `reactivated`). */
export type BillingMailKind = BillingMail | 'suspended' | 'paid_still_suspended';

/** The text of one billing mail (plain text: no organization name is ever put into HTML). */
export function billingMail(
  kind: BillingMailKind,
  to: string,
  org: string,
  link: string,
  graceEndsAt: Date | null,
): MailMessage {
  const until = graceEndsAt ? graceEndsAt.toISOString().slice(0, 10) : 'soon';
  const text: Record<BillingMailKind, [string, string]> = {
    past_due: [
      `Payment failed for ${org}`,
      `The last payment for ${org} failed. Update the payment method before ${until} (UTC) or the organization will be suspended.`,
    ],
    suspended: [
      `${org} is suspended`,
      `${org} is suspended because its payment is overdue. Pay the open invoice to reactivate it.`,
    ],
    reactivated: [`${org} is active again`, `The payment for ${org} was received; it is active again.`],
    paid_still_suspended: [
      `Payment received for ${org}`,
      `The payment for ${org} was received, but ${org} remains suspended by the platform's administrators: ask them to lift the suspension.`,
    ],
    canceled: [
      `The subscription of ${org} ended`,
      `The subscription of ${org} ended; the organization is back on the free plan.`,
    ],
  };
  const [subject, body] = text[kind];
  return { to, subject, text: `${body}\n\nBilling: ${link}\n` };
}

/**
 * Queues one mail per active owner, in the caller's transaction (sent if and only if it commits). The
 * job key (`key` and the owner) makes a retried transaction queue it once.
 */
export async function mailOwners(
  db: TenantDb,
  orgId: string,
  kind: BillingMailKind,
  key: string,
  link: (slug: string) => string,
  graceEndsAt: Date | null,
): Promise<number> {
  const { name, slug, owners } = await ownersToMail(db, orgId);
  for (const o of owners) {
    await enqueueJob(
      db,
      MAIL_TASK,
      { tenantId: orgId, payload: billingMail(kind, o.email, name, link(slug), graceEndsAt) },
      { jobKey: `billing:${kind}:${key}:${o.userId}` },
    );
  }
  return owners.length;
}
