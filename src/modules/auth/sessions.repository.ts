import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, SessionsTable } from '../../platform/db/schema.js';

/** Any handle on the identity tables: the PlatformDb, one of its transactions, or a tenant scope. */
export type IdentityDb = Kysely<Database>;

export type SessionRow = Selectable<SessionsTable>;

/** A session joined with the user fields the authenticator needs. */
export interface SessionWithUserRow extends SessionRow {
  email: string;
  email_verified_at: Date | null;
  totp_enabled_at: Date | null;
  is_platform_admin: boolean;
  last_organization_id: string | null;
  credentials_changed_at: Date;
}

const live = sql<boolean>`revoked_at is null and idle_expires_at > now() and absolute_expires_at > now()`;

/**
 * Inserts a session. With `credentialsChangedAt` (the user's `credentials_changed_at` as a sign-in read
 * it, in milliseconds as the driver reads timestamps) the insert is guarded, in the same statement, by that
 * value still being the user's, under a FOR SHARE lock of the user row: undefined, and no session, when the
 * credentials changed since. The lock conflicts with the row lock of a change's UPDATE (FOR KEY SHARE would
 * not): a change that updated the row first makes this wait for its commit and then see the new value
 * (READ COMMITTED re-checks the locked row's latest version), and a change that comes after waits until
 * this session is committed, so the revocation it runs next in its transaction sees the session.
 */
export async function insertSession(
  db: IdentityDb,
  row: {
    id: string;
    user_id: string;
    token_hash: Buffer;
    current_organization_id: string | null;
    two_factor_verified: boolean;
    user_agent: string | null;
    ip: string | null;
    idleMs: number;
    absoluteMs: number;
    /** The SSO connection that signed the session in (migration 0055). */
    sso_connection_id?: string | null;
    /** Caps the absolute expiry (an IdP's stated session end). */
    notAfter?: Date | null;
    /** Only while the user's `credentials_changed_at` is still this value (see above). */
    credentialsChangedAt?: Date;
  },
): Promise<SessionRow | undefined> {
  const { idleMs, absoluteMs, notAfter, credentialsChangedAt, ...values } = row;
  const absolute = sql<Date>`now() + make_interval(secs => ${absoluteMs / 1000})`;
  const capped = notAfter ? sql<Date>`least(${absolute}, ${notAfter}::timestamptz)` : absolute;
  const columns = {
    ...values,
    idle_expires_at: sql<Date>`least(now() + make_interval(secs => ${Math.min(idleMs, absoluteMs) / 1000}), ${capped})`,
    absolute_expires_at: capped,
  };
  if (!credentialsChangedAt) {
    return db.insertInto('sessions').values(columns).returningAll().executeTakeFirstOrThrow();
  }
  const names = Object.keys(columns) as (keyof typeof columns)[];
  const res = await sql<SessionRow>`with guard as (
      select 1 from users
      where id = ${values.user_id}
        and date_trunc('milliseconds', credentials_changed_at) = ${credentialsChangedAt}::timestamptz
      for share
    )
    insert into sessions (${sql.join(names.map((n) => sql.ref(n)))})
    select ${sql.join(names.map((n) => columns[n]))} from guard
    returning *`.execute(db);
  return res.rows[0];
}

/** The session with this token hash and its user, whatever its state (the caller checks expiry). */
export async function findSessionByTokenHash(
  db: IdentityDb,
  tokenHash: Buffer,
): Promise<SessionWithUserRow | undefined> {
  return db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .selectAll('s')
    .select([
      'u.email',
      'u.email_verified_at',
      'u.totp_enabled_at',
      'u.is_platform_admin',
      'u.last_organization_id',
      'u.credentials_changed_at',
    ])
    .where('s.token_hash', '=', tokenHash)
    .executeTakeFirst();
}

/**
 * The user of a LIVE session and their `credentials_changed_at`, read in one statement: a credential
 * change that revoked the session in its transaction (a password change or reset, two-factor turned off,
 * an address claim) is either seen whole (no row) or not at all (the value from before it, which the
 * change voided).
 */
export async function liveSessionCredentials(
  db: IdentityDb,
  sessionId: string,
): Promise<{ user_id: string; credentials_changed_at: Date } | undefined> {
  return db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.user_id', 'u.credentials_changed_at'])
    .where('s.id', '=', sessionId)
    .where(sql<boolean>`s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()`)
    .executeTakeFirst();
}

/** Slides the idle expiry of a live session (never past its absolute expiry). */
export async function touchSession(
  db: IdentityDb,
  id: string,
  idleMs: number,
): Promise<SessionRow | undefined> {
  return db
    .updateTable('sessions')
    .set({
      last_seen_at: sql<Date>`now()`,
      idle_expires_at: sql<Date>`least(now() + make_interval(secs => ${idleMs / 1000}), absolute_expires_at)`,
    })
    .where('id', '=', id)
    .where(live)
    .returningAll()
    .executeTakeFirst();
}

/** Changes a live session's token hash (and optionally other fields); the old token stops matching. */
export async function updateLiveSession(
  db: IdentityDb,
  id: string,
  set: { token_hash: Buffer; current_organization_id?: string | null; two_factor_verified?: boolean },
): Promise<SessionRow | undefined> {
  return db
    .updateTable('sessions')
    .set(set)
    .where('id', '=', id)
    .where(live)
    .returningAll()
    .executeTakeFirst();
}

/** Revokes one live session (of `userId` when given). */
export async function revokeSession(
  db: IdentityDb,
  id: string,
  userId?: string,
): Promise<SessionRow | undefined> {
  let q = db
    .updateTable('sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where(live);
  if (userId !== undefined) q = q.where('user_id', '=', userId);
  return q.returningAll().executeTakeFirst();
}

/** Revokes every live session of a user, except one. Returns how many. */
export async function revokeUserSessions(db: IdentityDb, userId: string, exceptId?: string): Promise<number> {
  let q = db
    .updateTable('sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where(live);
  if (exceptId !== undefined) q = q.where('id', '!=', exceptId);
  const res = await q.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Revokes every live session an SSO connection signed in; answers their users. */
export async function revokeConnectionSessions(db: IdentityDb, connectionId: string): Promise<string[]> {
  const rows = await db
    .updateTable('sessions')
    .set({ revoked_at: sql<Date>`now()` })
    .where('sso_connection_id', '=', connectionId)
    .where(live)
    .returning(['id', 'user_id'])
    .execute();
  return [...new Set(rows.map((r) => r.user_id))];
}

/**
 * Revokes the refresh token families minted from sessions of `userId` that are no longer live (after a
 * logout or a session revocation): an API client a session started ends with it. Returns how many.
 */
export async function revokeRefreshTokensOfEndedSessions(db: IdentityDb, userId: string): Promise<number> {
  const res = await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .where('session_id', 'in', (eb) =>
      eb
        .selectFrom('sessions')
        .select('id')
        .where('user_id', '=', userId)
        .where(sql<boolean>`not (${live})`),
    )
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Revokes every refresh token of a user (password reset and change end every signed-in client). */
export async function revokeUserRefreshTokens(db: IdentityDb, userId: string): Promise<number> {
  const res = await db
    .updateTable('refresh_tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** A user's live sessions, newest first (ids are UUIDv7), keyset-paginated. */
export async function listLiveSessions(
  db: IdentityDb,
  userId: string,
  opts: { before?: string; limit: number },
): Promise<SessionRow[]> {
  let q = db.selectFrom('sessions').selectAll().where('user_id', '=', userId).where(live);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

/** Deletes a user's sessions that ended (revoked or expired) more than `graceDays` ago. */
export async function purgeEndedSessions(db: IdentityDb, userId: string, graceDays = 7): Promise<void> {
  await db
    .deleteFrom('sessions')
    .where('user_id', '=', userId)
    .where(
      sql<boolean>`coalesce(revoked_at, least(idle_expires_at, absolute_expires_at)) < now() - make_interval(days => ${graceDays})`,
    )
    .execute();
}
