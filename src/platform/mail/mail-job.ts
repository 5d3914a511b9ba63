import type { JobHandler } from '../jobs/worker.js';
import type { MailMessage, Mailer } from './mailer.js';

/** The task name modules queue mail under (payload: `MailMessage`). */
export const MAIL_TASK = 'mail.send';

function isMail(p: unknown): p is MailMessage {
  const m = p as Partial<MailMessage> | null;
  return (
    !!m &&
    typeof m.to === 'string' &&
    typeof m.subject === 'string' &&
    typeof m.text === 'string' &&
    (m.html === undefined || typeof m.html === 'string')
  );
}

/**
 * Sends a queued message. The job id is the Message-ID, so a retry after a crash between sending and
 * completing the job is recognisable as the same message by the receiving side.
 */
export function createMailJobHandler(mailer: Mailer): JobHandler {
  return async (payload, job) => {
    if (!isMail(payload)) throw new Error(`mail job ${job.id} has an invalid payload`);
    await mailer.send(payload, { messageId: `job-${job.id}@saasready` });
  };
}
