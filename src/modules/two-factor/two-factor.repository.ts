import { sql, type Transaction } from 'kysely';
import type { Database, UsersTable } from '../../platform/db/schema.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

/** The global identity tables (no RLS): the platform handle or one of its transactions. */
export type IdentityDb = PlatformDb | Transaction<Database>;

export interface TwoFactorState {
  id: string;
  email: string;
  totp_secret_enc: string | null;
  totp_enabled_at: Date | null;
  totp_last_step: string | null;
  two_factor_pending_secret_enc: string | null;
}

const now = sql<Date>`now()`;

/**
 * Every two-factor column of `users`, as turning two-factor authentication off leaves it: the one set
 * each path that clears a second factor writes (disabling it here, the first proof of an address in
 * src/modules/auth/address-claim.ts, erasure), so a column added here is cleared on all of them.
 * The compile-time check below fails while {@link TwoFactorState} reads a column this set does not clear.
 */
export const TWO_FACTOR_OFF = {
  totp_secret_enc: null,
  totp_enabled_at: null,
  totp_last_step: null,
  two_factor_pending_secret_enc: null,
} as const satisfies { [K in keyof UsersTable]?: null };

/** Never, unless a column of the state is missing from {@link TWO_FACTOR_OFF}. */
type NotCleared = Exclude<keyof TwoFactorState, 'id' | 'email' | keyof typeof TWO_FACTOR_OFF>;
const allCleared: [NotCleared] extends [never] ? true : NotCleared = true;
void allCleared;

/** The user's two-factor columns, or undefined when there is no such user. */
export function findTwoFactorState(db: IdentityDb, userId: string): Promise<TwoFactorState | undefined> {
  return db
    .selectFrom('users')
    .select([
      'id',
      'email',
      'totp_secret_enc',
      'totp_enabled_at',
      'totp_last_step',
      'two_factor_pending_secret_enc',
    ])
    .where('id', '=', userId)
    .executeTakeFirst();
}

/** Stores a pending (unconfirmed) secret; false when the user does not exist or already has 2FA on. */
export async function setPendingSecret(db: IdentityDb, userId: string, sealed: string): Promise<boolean> {
  const res = await db
    .updateTable('users')
    .set({ two_factor_pending_secret_enc: sealed, updated_at: now })
    .where('id', '=', userId)
    .where('totp_enabled_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/**
 * Turns the pending secret into the active one, only if the pending secret is still `expectedPending`
 * (a concurrent re-enrollment makes this a no-op) and 2FA is still off. `step` is recorded as used.
 */
export async function enableTwoFactor(
  db: IdentityDb,
  userId: string,
  opts: { expectedPending: string; secretSealed: string; step: number },
): Promise<boolean> {
  const res = await db
    .updateTable('users')
    .set({
      totp_secret_enc: opts.secretSealed,
      totp_enabled_at: now,
      totp_last_step: String(opts.step),
      two_factor_pending_secret_enc: null,
      credentials_changed_at: now,
      updated_at: now,
    })
    .where('id', '=', userId)
    .where('totp_enabled_at', 'is', null)
    .where('two_factor_pending_secret_enc', '=', opts.expectedPending)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** Records `step` as used if it is newer than the last accepted one (atomic: one winner per step). */
export async function consumeTotpStep(db: IdentityDb, userId: string, step: number): Promise<boolean> {
  const res = await db
    .updateTable('users')
    .set({ totp_last_step: String(step) })
    .where('id', '=', userId)
    .where('totp_enabled_at', 'is not', null)
    .where((eb) =>
      eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', sql<string>`${step}::bigint`)]),
    )
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** Marks an unused recovery code used (atomic: a code is accepted once). */
export async function consumeRecoveryCode(db: IdentityDb, userId: string, hash: Buffer): Promise<boolean> {
  const res = await db
    .updateTable('recovery_codes')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('code_hash', '=', hash)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** Replaces all of the user's recovery codes with `hashes`. */
export async function replaceRecoveryCodes(db: IdentityDb, userId: string, hashes: Buffer[]): Promise<void> {
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  if (hashes.length > 0) {
    await db
      .insertInto('recovery_codes')
      .values(hashes.map((code_hash) => ({ user_id: userId, code_hash, used_at: null })))
      .execute();
  }
}

/** How many unused recovery codes the user has left. */
export async function countUnusedRecoveryCodes(db: IdentityDb, userId: string): Promise<number> {
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Removes the secret, the pending secret, the last step and every recovery code. */
export async function disableTwoFactor(db: IdentityDb, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ ...TWO_FACTOR_OFF, credentials_changed_at: now, updated_at: now })
    .where('id', '=', userId)
    .execute();
  await db.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
}

/**
 * Ends every live session of the user except `keepSessionId`, and every refresh-token family of the user
 * (turning two-factor authentication off is a credential change: nothing signed in before it stays).
 */
export async function endOtherAccess(
  db: IdentityDb,
  userId: string,
  keepSessionId: string | null,
): Promise<{ sessions: number; refreshTokens: number }> {
  let sessions = db
    .updateTable('sessions')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null);
  if (keepSessionId !== null) sessions = sessions.where('id', '!=', keepSessionId);
  const s = await sessions.executeTakeFirst();
  const r = await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return { sessions: Number(s.numUpdatedRows), refreshTokens: Number(r.numUpdatedRows) };
}

/** Whether the organization (the scope's tenant) requires two-factor authentication; undefined if unseen. */
export async function findOrganizationRequirement(
  db: TenantDb,
  orgId: string,
  opts: { forUpdate?: boolean } = {},
): Promise<boolean | undefined> {
  const q = db.selectFrom('organizations').select('require_two_factor').where('id', '=', orgId);
  const row = await (opts.forUpdate ? q.forUpdate() : q).executeTakeFirst();
  return row?.require_two_factor;
}

/** Sets the organization's requirement; returns the stored value. */
export async function setOrganizationRequirement(
  db: TenantDb,
  orgId: string,
  required: boolean,
): Promise<boolean> {
  const row = await db
    .updateTable('organizations')
    .set({ require_two_factor: required, updated_at: new Date() })
    .where('id', '=', orgId)
    .returning('require_two_factor')
    .executeTakeFirstOrThrow();
  return row.require_two_factor;
}
