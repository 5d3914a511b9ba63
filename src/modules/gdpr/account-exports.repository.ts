import { sql, type Kysely, type Selectable } from 'kysely';
import type { AccountExportsTable, Database } from '../../platform/db/schema.js';
import type { ExportProgress, ExportResult } from './export-status.js';
import * as rows from './export-rows.js';

/** The global identity tables' handle (no tenant: account exports are keyed by user, like sessions). */
export type AccountDb = Kysely<Database>;
export type AccountExportRow = Selectable<AccountExportsTable>;

const COLUMNS = [
  'id',
  'user_id',
  'idempotency_key',
  'request_hash',
  'status',
  'tables_total',
  'tables_done',
  'rows_exported',
  'size_bytes',
  'archive_sha256',
  'error',
  'created_at',
  'started_at',
  'finished_at',
  'expires_at',
] as const;

/** A user's exports are filtered by `user_id`; the job's own updates by the export's id alone. */
const EXPORTS: rows.ExportTables<AccountExportRow> = {
  rows: 'account_exports',
  chunks: 'account_export_chunks',
  columns: COLUMNS,
  owner: 'user_id',
};

/** Inserts a queued export; null when the user has one queued or running, or the key was used. */
export async function insertExport(
  db: AccountDb,
  row: { id: string; user_id: string; idempotency_key: string | null; request_hash: string | null },
): Promise<AccountExportRow | null> {
  const res = await db
    .insertInto('account_exports')
    .values(row)
    .onConflict((oc) => oc.doNothing())
    .returning(COLUMNS)
    .executeTakeFirst();
  return res ?? null;
}

export async function findByIdempotencyKey(
  db: AccountDb,
  userId: string,
  key: string,
): Promise<AccountExportRow | null> {
  const row = await db
    .selectFrom('account_exports')
    .select(COLUMNS)
    .where('user_id', '=', userId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  return row ?? null;
}

/** Fails the user's export that has been queued or running for a day (its job was lost). */
export function failAbandoned(db: AccountDb, userId: string): Promise<void> {
  return rows.failAbandoned(db, EXPORTS, { user_id: userId });
}

export function findActiveExport(db: AccountDb, userId: string): Promise<AccountExportRow | null> {
  return rows.findActiveExport(db, EXPORTS, { user_id: userId });
}

/** One export of the user (null for another user's id too). */
export function findExport(db: AccountDb, userId: string, id: string): Promise<AccountExportRow | null> {
  return rows.findExport(db, EXPORTS, { user_id: userId, id });
}

/** The export by id, whoever's (the job: it carries only the export id). */
export function findExportById(db: AccountDb, id: string): Promise<AccountExportRow | null> {
  return rows.findExport(db, EXPORTS, { id });
}

export function listExports(
  db: AccountDb,
  userId: string,
  opts: { before?: string; limit: number },
): Promise<AccountExportRow[]> {
  return rows.listExports(db, EXPORTS, { user_id: userId }, opts);
}

export function markRunning(db: AccountDb, id: string): Promise<boolean> {
  return rows.markRunning(db, EXPORTS, { id });
}

export function setProgress(db: AccountDb, id: string, p: ExportProgress): Promise<void> {
  return rows.setProgress(db, EXPORTS, { id }, p);
}

/**
 * Stores the archive (replacing an earlier attempt's chunks) and marks the export ready, in one
 * transaction (an export no longer running keeps no chunk); the user's earlier ready exports are then expired and their chunks deleted (only the
 * newest archive is kept, so exporting in a loop cannot fill the database).
 */
export async function storeArchive(
  db: AccountDb,
  id: string,
  chunks: readonly Buffer[],
  done: ExportResult,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (!(await rows.storeArchive(trx, EXPORTS, {}, id, chunks, done))) {
      // No longer running (failed meanwhile, e.g. the account was erased): nothing of it is kept.
      await trx.deleteFrom('account_export_chunks').where('export_id', '=', id).execute();
    }
  });
}

export function markFailed(db: AccountDb, id: string, error: string): Promise<void> {
  return rows.markFailed(db, EXPORTS, { id }, error);
}

/** How many chunks the export's stored archive has. */
export function chunkCount(db: AccountDb, id: string): Promise<number> {
  return rows.chunkCount(db, EXPORTS, { export_id: id });
}

/** One chunk of the export's stored archive (null when gone). */
export function archiveChunk(db: AccountDb, id: string, seq: number): Promise<Buffer | null> {
  return rows.archiveChunk(db, EXPORTS, { export_id: id }, seq);
}

/** The user's profile without credentials (password hash, two-factor secrets): facts about them only. */
export async function profileOf(db: AccountDb, userId: string): Promise<Record<string, unknown> | null> {
  const row = await db
    .selectFrom('users')
    .select([
      'id',
      'email',
      'name',
      'email_verified_at',
      'totp_enabled_at',
      'last_organization_id',
      'credentials_changed_at',
      'created_at',
      'updated_at',
      sql<boolean>`password_hash is not null`.as('has_password'),
    ])
    .where('id', '=', userId)
    .executeTakeFirst();
  return row ?? null;
}

/** Every session of the user, without its token hash. */
export async function sessionsOf(db: AccountDb, userId: string): Promise<Record<string, unknown>[]> {
  return db
    .selectFrom('sessions')
    .select([
      'id',
      'current_organization_id',
      'two_factor_verified',
      'user_agent',
      'ip',
      'created_at',
      'last_seen_at',
      'idle_expires_at',
      'absolute_expires_at',
      'revoked_at',
    ])
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
}

/** Every refresh token of the user, without its hash. */
export async function refreshTokensOf(db: AccountDb, userId: string): Promise<Record<string, unknown>[]> {
  return db
    .selectFrom('refresh_tokens')
    .select([
      'id',
      'family_id',
      'current_organization_id',
      'session_id',
      'created_at',
      'expires_at',
      'used_at',
      'revoked_at',
    ])
    .where('user_id', '=', userId)
    .orderBy('id')
    .execute();
}

/**
 * The user's passkeys: what they named them, when they were added and last used, how the authenticator
 * is reached and whether it is synced, and the credential's id and public key (base64url; both public by
 * design: they let no one sign in). Never a challenge.
 */
export async function passkeysOf(db: AccountDb, userId: string): Promise<Record<string, unknown>[]> {
  const rows = await db
    .selectFrom('passkey_credentials')
    .select([
      'id',
      'name',
      'credential_id',
      'public_key',
      'counter',
      'transports',
      'device_type',
      'backed_up',
      'created_at',
      'last_used_at',
    ])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ ...r, public_key: r.public_key.toString('base64url') }));
}

/** The provider accounts (social sign-in) linked to the user. */
export async function socialIdentitiesOf(db: AccountDb, userId: string): Promise<Record<string, unknown>[]> {
  return db
    .selectFrom('social_identities')
    .select(['id', 'provider', 'subject', 'email', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}
