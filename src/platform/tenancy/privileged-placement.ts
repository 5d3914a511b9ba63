import type pg from 'pg';

/**
 * The named privileged paths of an online placement move (migration 0040, docs/isolation-models.md
 * "Online moves"): SECURITY DEFINER functions executable by the OWNER role only (the role that also runs
 * the target schema's DDL). Each derives the source and target schemas from the move's record, never
 * from its caller, and refuses inside a tenant scope. The engine is src/modules/tenant-placement/.
 */

export type MoveKind = 'pooled' | 'schema' | 'database';
export type MoveStep =
  'preparing' | 'copying' | 'switching' | 'cleaning' | 'done' | 'aborting' | 'aborted' | 'failed';

export interface PlacementMove {
  readonly id: string;
  readonly organizationId: string;
  readonly from: MoveKind;
  readonly to: MoveKind;
  /** For a move to `database`: the tenant database's key (TENANT_DATABASES). */
  readonly databaseKey: string | null;
  /** For a move from `database`: the key of the tenant database it leaves (migration 0078). */
  readonly fromDatabaseKey: string | null;
  /** The copy's horizon (then each catch-up round's): an xmin, as text. */
  readonly copyXmin: string | null;
  /** The number of the move's latest run (migration 0076's fence: a run whose number is not this one
   *  was superseded by a newer run and stops). */
  readonly runNo: number;
  readonly step: MoveStep;
  readonly requestedBy: string;
  /** Per table: `{ after, copied, done }` of the copy; `catch_up`: `{ rounds, upserted, deleted }` of the
   *  catch-up rounds before the freeze (the last round's rows). */
  readonly progress: Record<string, { copied?: number; done?: boolean; rounds?: number; upserted?: number }>;
  /** Per table: `rows` and `checksum` compared equal in source and target by the last catch-up before the
   *  freeze; after the switch, `rows` is the count compared under the lock and `delta` the rows changed
   *  since that catch-up (synchronized and compared under the lock). */
  readonly counts: Record<string, { rows: number; checksum: string; delta?: number }> | null;
  readonly freezeMs: number | null;
  readonly error: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly switchedAt: Date | null;
  readonly finishedAt: Date | null;
}

interface MoveRow {
  id: string;
  organization_id: string;
  from_kind: MoveKind;
  to_kind: MoveKind;
  database_key: string | null;
  from_database_key?: string | null;
  copy_xmin: string | null;
  run_no?: number;
  step: MoveStep;
  requested_by: string;
  progress: PlacementMove['progress'];
  counts: PlacementMove['counts'];
  freeze_ms: number | null;
  error: string | null;
  created_at: Date;
  updated_at: Date;
  switched_at: Date | null;
  finished_at: Date | null;
}

const toMove = (r: MoveRow): PlacementMove => ({
  id: r.id,
  organizationId: r.organization_id,
  from: r.from_kind,
  to: r.to_kind,
  databaseKey: r.database_key ?? null,
  fromDatabaseKey: r.from_database_key ?? null,
  copyXmin: r.copy_xmin ?? null,
  runNo: r.run_no ?? 0,
  step: r.step,
  requestedBy: r.requested_by,
  progress: r.progress,
  counts: r.counts,
  freezeMs: r.freeze_ms,
  error: r.error,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  switchedAt: r.switched_at,
  finishedAt: r.finished_at,
});

type Q = pg.Pool | pg.ClientBase;

/** Starts a move (or answers the one under way to the same target); marks the placement `moving`. */
export async function beginMove(owner: Q, orgId: string, to: MoveKind, actor: string): Promise<string> {
  const res = await owner.query<{ id: string }>('select app_priv_placement_move_begin($1, $2, $3) as id', [
    orgId,
    to,
    actor,
  ]);
  return res.rows[0]!.id;
}

/** Moves the record to `step` (checked against the allowed transitions); a null step records only `error`. */
export async function advanceMove(
  owner: Q,
  moveId: string,
  step: MoveStep | null,
  error: string | null = null,
): Promise<void> {
  await owner.query('select app_priv_placement_move_advance($1, $2, $3)', [moveId, step, error]);
}

/** One committed batch of a table's copy. */
export async function copyBatch(
  owner: Q,
  moveId: string,
  table: string,
  keys: readonly string[],
  limit: number,
): Promise<{ copied: number; done: boolean }> {
  const res = await owner.query<{ copied: number; done: boolean }>(
    'select copied, done from app_priv_placement_move_copy($1, $2, $3, $4)',
    [moveId, table, keys, limit],
  );
  return res.rows[0]!;
}

/** What a catch-up did: rows upserted and deleted; `verified` when it compared every row's checksum (the
 *  first round after the copy); its duration in the database. */
export interface CatchUpResult {
  readonly upserted: number;
  readonly deleted: number;
  readonly verified: boolean;
  readonly ms: number;
}

/**
 * A catch-up of every placed table (`tables`, parents before children; migration 0050). Before the freeze
 * (`frozen` false) the caller's transaction must be REPEATABLE READ: the round synchronizes the rows
 * changed since the last round, compares them and every table's row count (a `full` round, and the
 * first: also the rows missing from the target, and every row's checksum), and records its snapshot. Under the freeze (`frozen` true, READ
 * COMMITTED): the move lock taken, the same for the rows changed since the last round.
 */
export async function catchUp(
  owner: pg.ClientBase,
  moveId: string,
  tables: readonly { name: string; keys: readonly string[] }[],
  frozen: boolean,
  full = false,
): Promise<CatchUpResult> {
  const res = await owner.query<{ r: CatchUpResult }>(
    'select app_priv_placement_move_catch_up($1, $2, $3, $4) as r',
    [moveId, JSON.stringify(tables.map((t) => ({ name: t.name, keys: t.keys }))), frozen, full],
  );
  return res.rows[0]!.r;
}

/** Inside the switch transaction, after the frozen catch-up: records the placement and the audit event. */
export async function switchMove(
  owner: pg.ClientBase,
  moveId: string,
  schemaVersion: string,
  audit: Record<string, unknown>,
): Promise<PlacementMove['counts']> {
  const res = await owner.query<{ counts: PlacementMove['counts'] }>(
    'select app_priv_placement_move_switch($1, $2, $3) as counts',
    [moveId, schemaVersion, JSON.stringify(audit)],
  );
  return res.rows[0]!.counts;
}

/** Deletes a batch of the organization's rows of `table` in the schema not holding its placement. */
export async function discardBatch(owner: Q, moveId: string, table: string, limit: number): Promise<number> {
  const res = await owner.query<{ n: number }>('select app_priv_placement_move_discard($1, $2, $3) as n', [
    moveId,
    table,
    limit,
  ]);
  return res.rows[0]!.n;
}

/** Moves, newest first: of one organization, or one move, or all (keyset after `before`). */
export async function listMoves(
  owner: Q,
  filter: { orgId?: string; moveId?: string; before?: { createdAt: Date; id: string }; limit?: number },
): Promise<PlacementMove[]> {
  const res = await owner.query<MoveRow>('select * from app_priv_placement_moves($1, $2, $3, $4, $5)', [
    filter.orgId ?? null,
    filter.moveId ?? null,
    filter.before?.createdAt ?? null,
    filter.before?.id ?? null,
    filter.limit ?? 50,
  ]);
  return res.rows.map(toMove);
}
