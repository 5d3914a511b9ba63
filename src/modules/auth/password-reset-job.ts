import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import { issueEmailToken, queueResetMail } from './email-tokens.js';
import type { IdentityDb } from './sessions.repository.js';
import { findUserByEmail } from './users.repository.js';

/** The job a password-reset request queues (listed in `enqueueable_tasks` by migration 0065). */
export const PASSWORD_RESET_TASK = 'auth.password-reset';

/**
 * Its payload (sealed in the queue like every job payload): the normalized address asked for, and the base
 * of the link as the instance that took the request knows it (as when the mail was written in the request).
 */
export interface PasswordResetJobPayload {
  readonly email: string;
  readonly publicUrl: string;
}

/**
 * Queues the reset of `normalizedEmail`: ONE statement, the same whether or not the address has an
 * account (nothing is looked up here), so the request's time does not tell who has one. One job key per
 * address (its SHA-256): a second request replaces a job not run yet.
 */
export async function queuePasswordReset(
  db: IdentityDb,
  normalizedEmail: string,
  publicUrl: string,
): Promise<void> {
  const key = createHash('sha256').update(normalizedEmail).digest('hex');
  await enqueueJob(
    db,
    PASSWORD_RESET_TASK,
    { tenantId: null, payload: { email: normalizedEmail, publicUrl } satisfies PasswordResetJobPayload },
    { jobKey: `auth:password-reset:${key}` },
  );
}

/**
 * Runs a queued reset request: when the address has an account, issues a reset token and queues its mail
 * (`mail.send`) in one transaction; for an unknown address, nothing.
 */
export function createPasswordResetJobHandler(deps: { db: PlatformDb; log?: Logger }): JobHandler {
  return async (payload) => {
    const { email, publicUrl } = (payload ?? {}) as Partial<PasswordResetJobPayload>;
    if (typeof email !== 'string' || email === '' || typeof publicUrl !== 'string') {
      throw new TypeError('auth.password-reset: no address or link base');
    }
    await deps.db.transaction().execute(async (trx) => {
      const user = await findUserByEmail(trx, email);
      if (!user) return;
      const token = await issueEmailToken(trx, user.id, 'reset_password');
      await queueResetMail(trx, publicUrl, user.email, user.id, token);
      deps.log?.info({ user: user.id }, 'password reset link queued');
    });
  };
}
