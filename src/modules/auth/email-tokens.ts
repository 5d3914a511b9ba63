import { sql } from 'kysely';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import { uuidv7 } from '../../platform/ids.js';
import type { IdentityDb } from './sessions.repository.js';
import { hashToken, isTokenFormat, newToken } from './tokens.js';

export type EmailTokenPurpose = 'verify_email' | 'reset_password';

/** How long a link stays valid. */
export const EMAIL_TOKEN_TTL_MS: Record<EmailTokenPurpose, number> = {
  verify_email: 48 * 3600_000,
  reset_password: 3600_000,
};

/** The `mail.send` job payload (the worker's mailer sends it as is). */
export interface MailPayload {
  to: string;
  subject: string;
  text: string;
  html?: string;
}

/**
 * Creates a single-use token for `purpose` (stored as its SHA-256 hash) and forgets the user's earlier
 * tokens of the same purpose, so only the newest link works. Run it in the transaction that also queues
 * the mail.
 */
export async function issueEmailToken(
  db: IdentityDb,
  userId: string,
  purpose: EmailTokenPurpose,
): Promise<string> {
  await db
    .deleteFrom('email_tokens')
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where((eb) => eb.or([eb('used_at', 'is', null), eb('expires_at', '<', sql<Date>`now()`)]))
    .execute();
  const { token, hash } = newToken();
  await db
    .insertInto('email_tokens')
    .values({
      id: uuidv7(),
      user_id: userId,
      purpose,
      token_hash: hash,
      expires_at: sql<Date>`now() + make_interval(secs => ${EMAIL_TOKEN_TTL_MS[purpose] / 1000})`,
      used_at: null,
    })
    .execute();
  return token;
}

/**
 * Marks a token used if it exists, has this purpose, is unused and unexpired: one atomic UPDATE, so two
 * concurrent uses cannot both succeed. Returns the user it belongs to, or null.
 */
export async function consumeEmailToken(
  db: IdentityDb,
  token: string,
  purpose: EmailTokenPurpose,
): Promise<string | null> {
  if (!isTokenFormat(token)) return null;
  const row = await db
    .updateTable('email_tokens')
    .set({ used_at: sql<Date>`now()` })
    .where('token_hash', '=', hashToken(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning('user_id')
    .executeTakeFirst();
  return row?.user_id ?? null;
}

/** Marks every unused token of a purpose used (after a password reset, older reset links die). */
export async function retireEmailTokens(
  db: IdentityDb,
  userId: string,
  purpose: EmailTokenPurpose,
): Promise<void> {
  await db
    .updateTable('email_tokens')
    .set({ used_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute();
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function linkMail(to: string, subject: string, intro: string, link: string, outro: string): MailPayload {
  return {
    to,
    subject,
    text: `${intro}\n\n${link}\n\n${outro}\n`,
    html: `<p>${escapeHtml(intro)}</p><p><a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p><p>${escapeHtml(outro)}</p>`,
  };
}

/** Queues the verification mail (job `mail.send`, in the caller's transaction). */
export async function queueVerificationMail(
  db: IdentityDb,
  publicUrl: string,
  to: string,
  userId: string,
  token: string,
) {
  const link = `${publicUrl}/verify-email?token=${encodeURIComponent(token)}`;
  const payload = linkMail(
    to,
    'Verify your email address',
    'Confirm your email address by opening this link:',
    link,
    'The link is valid for 48 hours. If you did not create this account, ignore this message and do not ' +
      'open the link: opening it would verify an account that someone else set up with your address.',
  );
  await enqueueJob(db, 'mail.send', { tenantId: null, payload }, { jobKey: `mail:verify-email:${userId}` });
}

/** Queues the password-reset mail (job `mail.send`, in the caller's transaction). */
export async function queueResetMail(
  db: IdentityDb,
  publicUrl: string,
  to: string,
  userId: string,
  token: string,
) {
  const link = `${publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
  const payload = linkMail(
    to,
    'Reset your password',
    'Someone (hopefully you) asked to reset the password of your account. Choose a new one here:',
    link,
    'The link is valid for one hour and works once. If you did not ask for it, ignore this message; your password is unchanged.',
  );
  await enqueueJob(db, 'mail.send', { tenantId: null, payload }, { jobKey: `mail:reset-password:${userId}` });
}

/**
 * Queues the mail telling an account's owner that someone tried to sign up with their address (job
 * `mail.send`, in the caller's transaction). It carries no token: only links to sign in and to reset the
 * password. One job key per account: a second attempt replaces a mail not sent yet.
 */
export async function queueSignUpAttemptMail(db: IdentityDb, publicUrl: string, to: string, userId: string) {
  const text = [
    'Someone (hopefully you) tried to create a new account with this email address, which already has one.',
    `Sign in: ${publicUrl}/login`,
    `Forgot your password? Reset it: ${publicUrl}/reset-password`,
    'If it was not you, ignore this message; nothing was changed.',
  ];
  const payload: MailPayload = {
    to,
    subject: 'You already have an account',
    text: `${text.join('\n\n')}\n`,
    html: text.map((line) => `<p>${escapeHtml(line)}</p>`).join(''),
  };
  await enqueueJob(db, 'mail.send', { tenantId: null, payload }, { jobKey: `mail:signup-attempt:${userId}` });
}
