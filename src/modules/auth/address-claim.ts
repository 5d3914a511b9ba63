import { sql } from 'kysely';
import { revokeUserRefreshTokens, revokeUserSessions, type IdentityDb } from './sessions.repository.js';
import { findUserById, markEmailVerified } from './users.repository.js';
import { TWO_FACTOR_OFF } from '../two-factor/two-factor.repository.js';

export interface ClaimOptions {
  /**
   * Clears the password too. True where someone other than whoever chose it proves the address (a social
   * provider, the organization's IdP, its directory): left set, a password chosen by someone who merely
   * typed the address would keep signing them in. A password reset sets the owner's own right after.
   * False for the verification link, which the sign-up mailed to the address its registrant typed.
   */
  readonly clearPassword: boolean;
  /** The social identity the proof itself links (kept); every other one goes. */
  readonly keepSocialIdentityId?: string;
}

/**
 * The first proof of an account's address (a verifying provider's link, an SSO sign-in, a directory's
 * link, a password reset, the verification link): whoever held the account before may not own the
 * address, so what they could have set up while it was unproven goes, in the caller's transaction and
 * under the user's row lock:
 * - the social identities linked meanwhile (a provider that did not verify the address created the
 *   account), but `keepSocialIdentityId`;
 * - the TOTP second factor and its recovery codes (left, it would lock the owner out or stay with
 *   whoever enrolled it);
 * - the password, with `clearPassword`;
 * - every session and refresh-token family (`credentials_changed_at` moves: access tokens die too).
 * Passkeys need a verified address to be added (passkeys.routes.ts), so none exists yet.
 *
 * An address already verified is left as it is (answers false: nothing cleared). True when this was the
 * first proof: the caller then drops the user's cached sessions after its commit (`userChanged`).
 */
export async function claimProvenAddress(
  db: IdentityDb,
  userId: string,
  opts: ClaimOptions,
): Promise<boolean> {
  const user = await findUserById(db, userId, { forUpdate: true });
  if (!user || user.email_verified_at !== null) return false;
  let others = db.deleteFrom('social_identities').where('user_id', '=', userId);
  if (opts.keepSocialIdentityId) others = others.where('id', '!=', opts.keepSocialIdentityId);
  await others.execute();
  // What turning two-factor off clears (two-factor.repository.ts: TWO_FACTOR_OFF and the recovery codes),
  // on any scope's transaction: an SSO sign-in and a directory claim inside the organization's.
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await db
    .updateTable('users')
    .set({
      ...TWO_FACTOR_OFF,
      credentials_changed_at: sql<Date>`now()`,
      ...(opts.clearPassword ? { password_hash: null } : {}),
    })
    .where('id', '=', userId)
    .execute();
  await markEmailVerified(db, userId);
  await revokeUserSessions(db, userId);
  await revokeUserRefreshTokens(db, userId);
  return true;
}
