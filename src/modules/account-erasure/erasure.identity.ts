import { sql } from 'kysely';
import type { IdentityDb } from '../auth/sessions.repository.js';

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
 * In one transaction: deletes every session (they hold the client's IP and user agent), e-mail token,
 * recovery code and linked provider account (social sign-in) of the user, revokes every refresh token (never deleted: grants), and anonymizes the row: no e-mail, name, password or
 * second factor left, `erased_at` set. The id stays (foreign keys, audit actor ids).
 */
export async function anonymize(db: IdentityDb, userId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
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
    const tomb = tombstoneEmail(userId);
    await trx
      .updateTable('users')
      .set({
        email: tomb,
        email_normalized: tomb,
        name: null,
        password_hash: null,
        email_verified_at: null,
        totp_secret_enc: null,
        totp_enabled_at: null,
        totp_last_step: null,
        two_factor_pending_secret_enc: null,
        last_organization_id: null,
        credentials_changed_at: sql<Date>`now()`,
        updated_at: sql<Date>`now()`,
        erased_at: sql<Date>`coalesce(erased_at, now())`,
      })
      .where('id', '=', userId)
      .execute();
  });
}
