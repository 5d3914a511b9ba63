import { createHash } from 'node:crypto';
import { sql, type Selectable, type Transaction } from 'kysely';
import type { Database, PasskeyCredentialsTable } from '../../platform/db/schema.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';

/** The global identity tables (no RLS): the platform handle or one of its transactions. */
export type IdentityDb = PlatformDb | Transaction<Database>;
export type CredentialRow = Selectable<PasskeyCredentialsTable>;
export type ChallengePurpose = 'registration' | 'sign_in' | 'second_factor';

/** What a challenge is bound to (a session id or a browser handle), as stored: its SHA-256. */
export const bindingHash = (binding: string): Buffer => createHash('sha256').update(binding).digest();

/** Stores the one pending challenge of a purpose and binding (replacing an earlier one). */
export async function putChallenge(
  db: IdentityDb,
  row: {
    purpose: ChallengePurpose;
    binding: string;
    userId: string | null;
    challenge: string;
    expiresAt: Date;
  },
): Promise<void> {
  const values = {
    purpose: row.purpose,
    binding_hash: bindingHash(row.binding),
    user_id: row.userId,
    challenge: row.challenge,
    expires_at: row.expiresAt,
  };
  await db
    .insertInto('passkey_challenges')
    .values(values)
    .onConflict((oc) =>
      oc.columns(['purpose', 'binding_hash']).doUpdateSet({
        user_id: values.user_id,
        challenge: values.challenge,
        expires_at: values.expires_at,
      }),
    )
    .execute();
}

/**
 * Takes the pending challenge of a purpose and binding: deletes it and returns it if it has not expired.
 * Single use: of two concurrent verifications, one gets the row.
 */
export async function takeChallenge(
  db: IdentityDb,
  purpose: ChallengePurpose,
  binding: string,
  now: Date,
): Promise<{ challenge: string; userId: string | null } | null> {
  const row = await db
    .deleteFrom('passkey_challenges')
    .where('purpose', '=', purpose)
    .where('binding_hash', '=', bindingHash(binding))
    .returning(['challenge', 'user_id', 'expires_at'])
    .executeTakeFirst();
  if (!row || row.expires_at.getTime() <= now.getTime()) return null;
  return { challenge: row.challenge, userId: row.user_id };
}

/** Deletes challenges that expired (called now and then by the ceremonies themselves). */
export async function purgeExpiredChallenges(db: IdentityDb, now: Date): Promise<void> {
  await db.deleteFrom('passkey_challenges').where('expires_at', '<', now).execute();
}

export async function insertCredential(
  db: IdentityDb,
  row: Omit<CredentialRow, 'created_at' | 'last_used_at' | 'counter'> & { counter: number },
): Promise<CredentialRow | null> {
  const out = await db
    .insertInto('passkey_credentials')
    .values(row)
    .onConflict((oc) => oc.column('credential_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  return out ?? null;
}

/** A credential by the authenticator's credential id (any user: sign-in does not know the user yet). */
export function findByCredentialId(db: IdentityDb, credentialId: string): Promise<CredentialRow | undefined> {
  return db
    .selectFrom('passkey_credentials')
    .selectAll()
    .where('credential_id', '=', credentialId)
    .executeTakeFirst();
}

/** The user's credentials, oldest first, after `after` (an id: ids are time-ordered uuidv7). */
export function listForUser(
  db: IdentityDb,
  userId: string,
  opts: { after?: string; limit: number },
): Promise<CredentialRow[]> {
  let q = db.selectFrom('passkey_credentials').selectAll().where('user_id', '=', userId);
  if (opts.after) q = q.where('id', '>', opts.after);
  return q.orderBy('id', 'asc').limit(opts.limit).execute();
}

/** The credential ids and transports of a user (exclude list at registration, allow list for 2FA). */
export function descriptorsOf(db: IdentityDb, userId: string) {
  return db
    .selectFrom('passkey_credentials')
    .select(['credential_id', 'transports'])
    .where('user_id', '=', userId)
    .orderBy('id', 'asc')
    .limit(100)
    .execute();
}

export async function renameCredential(
  db: IdentityDb,
  userId: string,
  id: string,
  name: string,
): Promise<CredentialRow | null> {
  const row = await db
    .updateTable('passkey_credentials')
    .set({ name })
    .where('user_id', '=', userId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

export async function deleteCredential(db: IdentityDb, userId: string, id: string): Promise<boolean> {
  const res = await db
    .deleteFrom('passkey_credentials')
    .where('user_id', '=', userId)
    .where('id', '=', id)
    .executeTakeFirst();
  return res.numDeletedRows > 0n;
}

/**
 * Records a use: the new signature counter and the time, only if the stored counter is still
 * `expectedCounter` (two concurrent assertions with the same counter: one wins).
 */
export async function recordUse(
  db: IdentityDb,
  id: string,
  expectedCounter: string,
  newCounter: number,
  flags: { backedUp: boolean },
): Promise<boolean> {
  const res = await db
    .updateTable('passkey_credentials')
    .set({ counter: newCounter, last_used_at: sql<Date>`now()`, backed_up: flags.backedUp })
    .where('id', '=', id)
    .where('counter', '=', expectedCounter)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}
