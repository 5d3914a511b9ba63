import { sql, type Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';
import type { IdentityDb } from '../auth/sessions.repository.js';
import { failedValues, UNFINISHED } from '../gdpr/export-status.js';
import { TWO_FACTOR_OFF } from '../two-factor/two-factor.repository.js';

// The user's global identity rows (not tenant data): credentials deleted, the row anonymized.

export interface ErasureSubject {
  id: string;
  email_normalized: string;
  password_hash: string | null;
  totp_enabled_at: Date | null;
  is_platform_admin: boolean;
  erased_at: Date | null;
}

export function findSubject(db: IdentityDb, userId: string): Promise<ErasureSubject | undefined> {
  return db
    .selectFrom('users')
    .select(['id', 'email_normalized', 'password_hash', 'totp_enabled_at', 'is_platform_admin', 'erased_at'])
    .where('id', '=', userId)
    .executeTakeFirst();
}

/** The address an erased user's row keeps: unique, undeliverable (`.invalid`), naming no one. */
export const tombstoneEmail = (userId: string) => `erased-${userId}@erased.invalid`;

/**
 * The user's account export archives (their profile with the address, their sessions' IP addresses and
 * user agents) are deleted: a ready export expires at once, a queued or running one fails, so its job
 * stores nothing (`storeArchive` keeps chunks only for a still-running export). The export rows stay
 * (no personal data: status, counts, times); the runtime role may not delete them.
 * Rows first: the update waits for a job storing an archive right now, whose chunks the delete then sees.
 */
async function forgetAccountExports(trx: IdentityDb, userId: string): Promise<void> {
  await trx
    .updateTable('account_exports')
    .set(failedValues('the account was erased'))
    .where('user_id', '=', userId)
    .where('status', 'in', UNFINISHED)
    .execute();
  await trx
    .updateTable('account_exports')
    .set({ status: 'expired' })
    .where('user_id', '=', userId)
    .where('status', '=', 'ready')
    .execute();
  await trx
    .deleteFrom('account_export_chunks')
    .where('export_id', 'in', trx.selectFrom('account_exports').select('id').where('user_id', '=', userId))
    .execute();
}

/**
 * In one transaction: deletes every session (they hold the client's IP and user agent), e-mail token,
 * recovery code, linked provider account (social sign-in) and account export archive of the user, revokes every refresh token (never deleted: grants), and anonymizes the row: no e-mail, name, password or
 * second factor left, `erased_at` set. The id stays (foreign keys, audit actor ids).
 */
export async function anonymize(
  db: IdentityDb,
  userId: string,
  /** Runs in the same transaction, first (the erasure queues its tenant databases' part here). */
  alsoInTransaction?: (trx: Kysely<Database>) => Promise<void>,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await alsoInTransaction?.(trx);
    await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
    await trx
      .updateTable('refresh_tokens')
      .set({ revoked_at: sql<Date>`now()` })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .execute();
    await trx.deleteFrom('email_tokens').where('user_id', '=', userId).execute();
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    await trx.deleteFrom('passkey_credentials').where('user_id', '=', userId).execute();
    await trx.deleteFrom('passkey_challenges').where('user_id', '=', userId).execute();
    // Linked provider accounts (social sign-in): an erased user must not be signed in again through them.
    await trx.deleteFrom('social_identities').where('user_id', '=', userId).execute();
    await forgetAccountExports(trx, userId);
    const tomb = tombstoneEmail(userId);
    await trx
      .updateTable('users')
      .set({
        email: tomb,
        email_normalized: tomb,
        name: null,
        password_hash: null,
        email_verified_at: null,
        ...TWO_FACTOR_OFF,
        last_organization_id: null,
        credentials_changed_at: sql<Date>`now()`,
        updated_at: sql<Date>`now()`,
        erased_at: sql<Date>`coalesce(erased_at, now())`,
      })
      .where('id', '=', userId)
      .execute();
  });
}
