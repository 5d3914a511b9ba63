import { sql, type Selectable } from 'kysely';
import type { UsersTable } from '../../platform/db/schema.js';
import type { IdentityDb } from './sessions.repository.js';

export type UserRow = Selectable<UsersTable>;

/** A user as the API shows it. */
export interface PublicUser {
  id: string;
  email: string;
  /** The display name the user chose (`PATCH /v1/auth/me`), null when unset. */
  name: string | null;
  emailVerified: boolean;
  twoFactorEnabled: boolean;
  /** The user administers the whole platform (the console shows its screens; the server decides). */
  isPlatformAdmin: boolean;
}

export const toPublicUser = (u: UserRow): PublicUser => ({
  id: u.id,
  email: u.email,
  name: u.name,
  emailVerified: u.email_verified_at !== null,
  twoFactorEnabled: u.totp_enabled_at !== null,
  isPlatformAdmin: u.is_platform_admin,
});

export async function findUserByEmail(db: IdentityDb, normalized: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('email_normalized', '=', normalized).executeTakeFirst();
}

export async function findUserById(db: IdentityDb, id: string, opts: { forUpdate?: boolean } = {}) {
  let q = db.selectFrom('users').selectAll().where('id', '=', id);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function insertUser(
  db: IdentityDb,
  row: {
    id: string;
    email: string;
    email_normalized: string;
    /** Null: no password (an account created by social sign-in). */
    password_hash: string | null;
    email_verified: boolean;
  },
): Promise<UserRow> {
  const { email_verified, ...values } = row;
  return db
    .insertInto('users')
    .values({ ...values, email_verified_at: email_verified ? sql<Date>`now()` : null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Sets a new password hash; `credentialsChanged` also moves credentials_changed_at (reset, change).
 * With `replacing`, only over that hash (a rehash: never over a password changed since it was read).
 */
export async function setPasswordHash(
  db: IdentityDb,
  userId: string,
  passwordHash: string,
  opts: { credentialsChanged: boolean; replacing?: string },
): Promise<void> {
  let q = db
    .updateTable('users')
    .set({
      password_hash: passwordHash,
      updated_at: sql<Date>`now()`,
      ...(opts.credentialsChanged ? { credentials_changed_at: sql<Date>`now()` } : {}),
    })
    .where('id', '=', userId);
  if (opts.replacing !== undefined) q = q.where('password_hash', '=', opts.replacing);
  await q.execute();
}

/** Marks the email verified (idempotent: the first verification time is kept). */
export async function markEmailVerified(db: IdentityDb, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ email_verified_at: sql<Date>`coalesce(email_verified_at, now())`, updated_at: sql<Date>`now()` })
    .where('id', '=', userId)
    .execute();
}

/** Sets (or, with null, clears) the display name; the row after the change, undefined when no such user. */
export async function setUserName(
  db: IdentityDb,
  userId: string,
  name: string | null,
): Promise<UserRow | undefined> {
  return db
    .updateTable('users')
    .set({ name, updated_at: sql<Date>`now()` })
    .where('id', '=', userId)
    .returningAll()
    .executeTakeFirst();
}
