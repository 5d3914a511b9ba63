import { sql, type Kysely } from 'kysely';
import type { Database } from '../../platform/db/schema.js';
import {
  failedValues,
  progressValues,
  readyValues,
  runningValues,
  UNFINISHED,
  type ExportProgress,
  type ExportResult,
} from './export-status.js';

/**
 * The queries of an export's rows and archive chunks, shared by `organization_exports` and
 * `account_exports` (the same status, progress and result columns, and chunk tables of the same shape).
 * Each repository passes its own handle (the tenant scope's for organization exports) and states its own
 * filters: the owner's (`{ organization_id }`, `{ user_id }`) and a row's key (`{ organization_id, id }`,
 * `{ id }`), applied in that order as `column = value`.
 */

/** What both kinds of export have: the columns read (of the row type), and the row type itself. */
interface ExportColumns<Row> {
  readonly columns: readonly (keyof Row & string)[];
  /** Only the row type (never set). */
  readonly row?: Row;
}

/**
 * One kind of export: its table, its chunks' table and the owner's column on the export row (for the
 * exports an archive supersedes), paired as the schema pairs them, and the columns read. `Row` is the row
 * as read.
 */
export type ExportTables<Row> = ExportColumns<Row> &
  (
    | {
        readonly rows: 'organization_exports';
        readonly chunks: 'organization_export_chunks';
        readonly owner: 'organization_id';
      }
    | {
        readonly rows: 'account_exports';
        readonly chunks: 'account_export_chunks';
        readonly owner: 'user_id';
      }
  );

/** Column = value filters, in order, on these columns only; a column given without its value is refused. */
export type Filter = Readonly<Partial<Record<'organization_id' | 'user_id' | 'id' | 'export_id', string>>>;

/** The two kinds share their column names; the typed row is the caller's (`ExportTables<Row>`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Kysely<Record<string, Record<string, any>>>;
const loose = (db: Kysely<Database>) => db as unknown as Loose;

/** Adds `column = value` for each entry of the filter, in order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function filtered<Q extends { where(...args: any[]): any }>(q: Q, filter: Filter): Q {
  const entries = Object.entries(filter);
  if (entries.some(([, value]) => typeof value !== 'string')) {
    throw new Error('export rows: a filter without its value');
  }
  for (const [col, value] of entries) q = q.where(col, '=', value) as Q;
  return q;
}

/** How long an export may stay queued or running before a new request takes its place (a lost job). */
export const ABANDONED_AFTER_HOURS = 24;

/** Fails the owner's export that has been queued or running for too long (its job was lost). */
export async function failAbandoned<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  owner: Filter,
): Promise<void> {
  await filtered(
    loose(db).updateTable(t.rows).set(failedValues('abandoned: not finished within a day')),
    owner,
  )
    .where('status', 'in', UNFINISHED)
    .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${ABANDONED_AFTER_HOURS})`)
    .execute();
}

/** The owner's queued or running export, if any. */
export async function findActiveExport<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  owner: Filter,
): Promise<Row | null> {
  const row = await filtered(loose(db).selectFrom(t.rows).select(t.columns), owner)
    .where('status', 'in', UNFINISHED)
    .executeTakeFirst();
  return (row as Row | undefined) ?? null;
}

/** The export the filter selects (its owner's and its id), if any. */
export async function findExport<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  key: Filter,
): Promise<Row | null> {
  const row = await filtered(loose(db).selectFrom(t.rows).select(t.columns), key).executeTakeFirst();
  return (row as Row | undefined) ?? null;
}

/** The owner's exports, newest first (ids are UUIDv7), strictly before `before`. */
export async function listExports<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  owner: Filter,
  opts: { before?: string; limit: number },
): Promise<Row[]> {
  let q = filtered(loose(db).selectFrom(t.rows).select(t.columns), owner);
  if (opts.before) q = q.where('id', '<', opts.before);
  return (await q.orderBy('id', 'desc').limit(opts.limit).execute()) as Row[];
}

/** Moves a queued (or, on a retry, running) export to running; false when it is past that. */
export async function markRunning<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  key: Filter,
): Promise<boolean> {
  const res = await filtered(loose(db).updateTable(t.rows).set(runningValues()), key)
    .where('status', 'in', UNFINISHED)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

export async function setProgress<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  key: Filter,
  p: ExportProgress,
): Promise<void> {
  await filtered(loose(db).updateTable(t.rows).set(progressValues(p)), key)
    .where('status', '=', 'running')
    .execute();
}

export async function markFailed<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  key: Filter,
  error: string,
): Promise<void> {
  await filtered(loose(db).updateTable(t.rows).set(failedValues(error)), key)
    .where('status', 'in', UNFINISHED)
    .execute();
}

/**
 * Stores the archive of export `id` (replacing any chunks of an earlier attempt) and marks the export
 * ready; the owner's earlier ready exports are then expired and their chunks deleted. Why: one export at
 * a time is allowed, but without this every finished archive stayed for its whole retention, so
 * exporting in a loop filled the database; the newest archive holds everything an older one did.
 * `scope` is the filter every chunk row and export row of the owner carries besides its key
 * (`{ organization_id }`; none for account exports, keyed by id alone). False when the export is no
 * longer running (its chunks are then left to the caller).
 */
export async function storeArchive<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  scope: Filter,
  id: string,
  chunks: readonly Buffer[],
  done: ExportResult,
): Promise<boolean> {
  const d = loose(db);
  await filtered(d.deleteFrom(t.chunks), scope).where('export_id', '=', id).execute();
  for (let seq = 0; seq < chunks.length; seq++) {
    await d
      .insertInto(t.chunks)
      .values({ ...scope, export_id: id, seq, data: chunks[seq]! })
      .execute();
  }
  const ready = await filtered(d.updateTable(t.rows).set(readyValues(done)), scope)
    .where('id', '=', id)
    .where('status', '=', 'running')
    .returning(t.owner)
    .executeTakeFirst();
  if (!ready) return false;
  const superseded = await d
    .updateTable(t.rows)
    .set({ status: 'expired' })
    .where(t.owner, '=', ready[t.owner] as string)
    .where('status', '=', 'ready')
    .where('id', '<>', id)
    .returning('id')
    .execute();
  if (superseded.length > 0) {
    await filtered(d.deleteFrom(t.chunks), scope)
      .where(
        'export_id',
        'in',
        superseded.map((r) => r.id as string),
      )
      .execute();
  }
  return true;
}

/** How many chunks the export's stored archive has (`key`: its owner's filter and `export_id`). */
export async function chunkCount<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  key: Filter,
): Promise<number> {
  const row = await filtered(
    loose(db)
      .selectFrom(t.chunks)
      .select((eb) => eb.fn.countAll<string>().as('n')),
    key,
  ).executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** One chunk of the export's stored archive (null when gone). */
export async function archiveChunk<Row>(
  db: Kysely<Database>,
  t: ExportTables<Row>,
  key: Filter,
  seq: number,
): Promise<Buffer | null> {
  const row = await filtered(loose(db).selectFrom(t.chunks).select('data'), key)
    .where('seq', '=', seq)
    .executeTakeFirst();
  return (row?.data as Buffer | undefined) ?? null;
}
