import { sql, type Kysely, type Selectable } from 'kysely';
import type { AccountExportsTable, Database } from '../../platform/db/schema.js';
import {
  failedValues,
  progressValues,
  readyValues,
  runningValues,
  UNFINISHED,
  type ExportProgress,
  type ExportResult,
} from './export-status.js';

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
export async function failAbandoned(db: AccountDb, userId: string): Promise<void> {
  await db
    .updateTable('account_exports')
    .set(failedValues('abandoned: not finished within a day'))
    .where('user_id', '=', userId)
    .where('status', 'in', UNFINISHED)
    .where('created_at', '<', sql<Date>`now() - interval '24 hours'`)
    .execute();
}

export async function findActiveExport(db: AccountDb, userId: string): Promise<AccountExportRow | null> {
  const row = await db
    .selectFrom('account_exports')
    .select(COLUMNS)
    .where('user_id', '=', userId)
    .where('status', 'in', UNFINISHED)
    .executeTakeFirst();
  return row ?? null;
}

/** One export of the user (null for another user's id too). */
export async function findExport(
  db: AccountDb,
  userId: string,
  id: string,
): Promise<AccountExportRow | null> {
  const row = await db
    .selectFrom('account_exports')
    .select(COLUMNS)
    .where('user_id', '=', userId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row ?? null;
}

/** The export by id, whoever's (the job: it carries only the export id). */
export async function findExportById(db: AccountDb, id: string): Promise<AccountExportRow | null> {
  const row = await db.selectFrom('account_exports').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ?? null;
}

export async function listExports(
  db: AccountDb,
  userId: string,
  opts: { before?: string; limit: number },
): Promise<AccountExportRow[]> {
  let q = db.selectFrom('account_exports').select(COLUMNS).where('user_id', '=', userId);
  if (opts.before) q = q.where('id', '<', opts.before);
  return q.orderBy('id', 'desc').limit(opts.limit).execute();
}

export async function markRunning(db: AccountDb, id: string): Promise<boolean> {
  const res = await db
    .updateTable('account_exports')
    .set(runningValues())
    .where('id', '=', id)
    .where('status', 'in', UNFINISHED)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function setProgress(db: AccountDb, id: string, p: ExportProgress): Promise<void> {
  await db
    .updateTable('account_exports')
    .set(progressValues(p))
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
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
    await trx.deleteFrom('account_export_chunks').where('export_id', '=', id).execute();
    for (let seq = 0; seq < chunks.length; seq++) {
      await trx
        .insertInto('account_export_chunks')
        .values({ export_id: id, seq, data: chunks[seq]! })
        .execute();
    }
    const ready = await trx
      .updateTable('account_exports')
      .set(readyValues(done))
      .where('id', '=', id)
      .where('status', '=', 'running')
      .returning('user_id')
      .executeTakeFirst();
    if (!ready) {
      // No longer running (failed meanwhile, e.g. the account was erased): nothing of it is kept.
      await trx.deleteFrom('account_export_chunks').where('export_id', '=', id).execute();
      return;
    }
    const superseded = await trx
      .updateTable('account_exports')
      .set({ status: 'expired' })
      .where('user_id', '=', ready.user_id)
      .where('status', '=', 'ready')
      .where('id', '<>', id)
      .returning('id')
      .execute();
    if (superseded.length > 0) {
      await trx
        .deleteFrom('account_export_chunks')
        .where(
          'export_id',
          'in',
          superseded.map((r) => r.id),
        )
        .execute();
    }
  });
}

export async function markFailed(db: AccountDb, id: string, error: string): Promise<void> {
  await db
    .updateTable('account_exports')
    .set(failedValues(error))
    .where('id', '=', id)
    .where('status', 'in', UNFINISHED)
    .execute();
}

/** How many chunks the export's stored archive has. */
export async function chunkCount(db: AccountDb, id: string): Promise<number> {
  const row = await db
    .selectFrom('account_export_chunks')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('export_id', '=', id)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** One chunk of the export's stored archive (null when gone). */
export async function archiveChunk(db: AccountDb, id: string, seq: number): Promise<Buffer | null> {
  const row = await db
    .selectFrom('account_export_chunks')
    .select('data')
    .where('export_id', '=', id)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return row?.data ?? null;
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
