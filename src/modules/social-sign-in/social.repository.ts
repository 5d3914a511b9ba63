import { sql, type Selectable } from 'kysely';
import type { SocialIdentitiesTable, SocialSignInFlowsTable } from '../../platform/db/schema.js';
import type { IdentityDb } from '../auth/sessions.repository.js';

// Global identity tables (migration 0058): keyed by user or by flow state, never by organization.

export type SocialIdentityRow = Selectable<SocialIdentitiesTable>;
export type SocialFlowRow = Selectable<SocialSignInFlowsTable>;

export async function insertFlow(db: IdentityDb, row: Omit<SocialFlowRow, 'created_at'>): Promise<void> {
  await db.insertInto('social_sign_in_flows').values(row).execute();
}

/** Takes a flow out (single use: whoever deletes the row owns it), expired or not; undefined when none. */
export async function consumeFlow(db: IdentityDb, stateHash: Buffer): Promise<SocialFlowRow | undefined> {
  return db
    .deleteFrom('social_sign_in_flows')
    .where('state_hash', '=', stateHash)
    .returningAll()
    .executeTakeFirst();
}

/** Drops flows nobody came back for. */
export async function purgeExpiredFlows(db: IdentityDb): Promise<void> {
  await db
    .deleteFrom('social_sign_in_flows')
    .where('expires_at', '<', sql<Date>`now()`)
    .execute();
}

export async function findIdentity(
  db: IdentityDb,
  provider: string,
  subject: string,
): Promise<SocialIdentityRow | undefined> {
  return db
    .selectFrom('social_identities')
    .selectAll()
    .where('provider', '=', provider)
    .where('subject', '=', subject)
    .executeTakeFirst();
}

export async function insertIdentity(
  db: IdentityDb,
  row: { id: string; user_id: string; provider: string; subject: string; email: string | null },
): Promise<SocialIdentityRow> {
  return db.insertInto('social_identities').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function touchIdentity(db: IdentityDb, id: string, email: string | null): Promise<void> {
  await db
    .updateTable('social_identities')
    .set({ last_used_at: sql<Date>`now()`, email })
    .where('id', '=', id)
    .execute();
}

/** A page of the user's identities, by id (uuidv7: creation order), after `afterId`. */
export async function listIdentities(
  db: IdentityDb,
  userId: string,
  limit: number,
  afterId: string | undefined,
): Promise<SocialIdentityRow[]> {
  let q = db.selectFrom('social_identities').selectAll().where('user_id', '=', userId);
  if (afterId) q = q.where('id', '>', afterId);
  return q.orderBy('id').limit(limit).execute();
}

export async function countIdentities(db: IdentityDb, userId: string): Promise<number> {
  const row = await db
    .selectFrom('social_identities')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The user's passkeys (another way to sign in without a password). */
export async function countPasskeys(db: IdentityDb, userId: string): Promise<number> {
  const row = await db
    .selectFrom('passkey_credentials')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function deleteIdentity(db: IdentityDb, userId: string, id: string): Promise<boolean> {
  const res = await db
    .deleteFrom('social_identities')
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return res.numDeletedRows > 0n;
}
