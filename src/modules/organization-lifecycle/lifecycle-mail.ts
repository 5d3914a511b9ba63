import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import type { MailMessage } from '../../platform/mail/mailer.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { activeOwners } from './lifecycle.repository.js';

export type DeletionMailKind = 'deletion_scheduled' | 'deletion_cancelled';

/** The text of one deletion mail (plain text: no organization name is ever put into HTML). */
export function deletionMail(
  kind: DeletionMailKind,
  to: string,
  org: string,
  link: string,
  dueAt: Date | null,
): MailMessage {
  if (kind === 'deletion_scheduled') {
    const due = dueAt ? `${dueAt.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'soon';
    return {
      to,
      subject: `${org} is scheduled for deletion`,
      text:
        `${org} was scheduled for deletion by one of its owners. From now on it is read-only for its members; ` +
        `on ${due} it and all its data will be deleted for good.\n\n` +
        `An owner can cancel the deletion until then in the organization's settings: ${link}\n`,
    };
  }
  return {
    to,
    subject: `The deletion of ${org} was cancelled`,
    text: `The deletion of ${org} was cancelled by one of its owners; it is active again.\n\nSettings: ${link}\n`,
  };
}

/**
 * Queues one mail per active owner, in the caller's transaction (sent if and only if it commits). The job
 * key (`kind`, `key` and the owner) makes a retried transaction queue it once.
 */
export async function mailOwnersAboutDeletion(
  db: TenantDb,
  orgId: string,
  org: { name: string; slug: string },
  kind: DeletionMailKind,
  key: string,
  link: (slug: string) => string,
  dueAt: Date | null,
): Promise<number> {
  const owners = await activeOwners(db, orgId);
  for (const o of owners) {
    await enqueueJob(
      db,
      MAIL_TASK,
      { tenantId: orgId, payload: deletionMail(kind, o.email, org.name, link(org.slug), dueAt) },
      { jobKey: `organization:${kind}:${key}:${o.userId}` },
    );
  }
  return owners.length;
}
