import type { Kysely, Selectable } from 'kysely';
import type { Database, RefreshTokensTable } from '../../platform/db/schema.js';

/**
 * `refresh_tokens` is a global identity table (no RLS, no organization_id of its own: the organization
 * is the claim the token mints). Functions take a `PlatformDb`, one of its transactions, or a tenant
 * scope's handle when the caller's transaction also touches tenant tables; never a pool.
 */
export type IdentityDb = Kysely<Database>;

export type RefreshTokenRow = Selectable<RefreshTokensTable>;

/** Inserts a refresh token row. */
export async function insertRefreshToken(
  db: IdentityDb,
  row: {
    id: string;
    family_id: string;
    user_id: string;
    current_organization_id: string;
    token_hash: Buffer;
    expires_at: Date;
    /** The session that minted the family (null: minted otherwise). */
    session_id: string | null;
  },
): Promise<void> {
  await db.insertInto('refresh_tokens').values(row).execute();
}

/** The token with this hash, or undefined; `forUpdate` locks the row until the transaction ends. */
export function findRefreshTokenByHash(
  db: IdentityDb,
  hash: Buffer,
  opts: { forUpdate?: boolean } = {},
): Promise<RefreshTokenRow | undefined> {
  let q = db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Marks one token used (it has been exchanged for its successor). */
export async function markRefreshTokenUsed(db: IdentityDb, id: string, at: Date): Promise<void> {
  await db.updateTable('refresh_tokens').set({ used_at: at }).where('id', '=', id).execute();
}

/** Revokes every not yet revoked token of a family (only of `userId`'s, when given); returns how many. */
export async function revokeRefreshFamily(
  db: IdentityDb,
  familyId: string,
  at: Date,
  userId?: string,
): Promise<number> {
  let q = db
    .updateTable('refresh_tokens')
    .set({ revoked_at: at })
    .where('family_id', '=', familyId)
    .where('revoked_at', 'is', null);
  if (userId !== undefined) q = q.where('user_id', '=', userId);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Revokes every not yet revoked token of a user (all families); returns how many were revoked. */
export async function revokeUserRefreshTokens(db: IdentityDb, userId: string, at: Date): Promise<number> {
  const res = await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: at })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}
