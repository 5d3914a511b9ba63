import type pg from 'pg';

/**
 * The named privileged paths of an online move into a `database` placement (migration 0076,
 * docs/isolation-models.md "Online moves into a tenant database"): SECURITY DEFINER functions the OWNER
 * role alone may execute, present in every migrated database. The reading ones run on the source (the
 * control database), the writing ones on the target (the tenant database), each authorized by the move's
 * record in its own database (the control database's row, the tenant database's mirror of it).
 */

type Q = pg.Pool | pg.ClientBase;
export type KeyRow = readonly string[];

export async function beginDatabaseMove(owner: Q, org: string, key: string, actor: string): Promise<string> {
  const res = await owner.query<{ id: string }>('select app_priv_placement_xmove_begin($1, $2, $3) as id', [
    org,
    key,
    actor,
  ]);
  return res.rows[0]!.id;
}

/** The tenant database's record of the move, moved to `step` (forward only). */
export async function mirrorMove(
  target: Q,
  move: string,
  run: number,
  org: string,
  key: string,
  step: string | null,
) {
  await target.query('select app_priv_placement_xmove_mirror($1, $2, $3, $4, $5)', [
    move,
    org,
    key,
    step,
    run,
  ]);
}

/** A new run of the move: its number (the control database's run_no, incremented). The caller holds the
 *  move's lease; every write of the run into the tenant database, and its decision, carry the number and
 *  are refused (SQLSTATE SRM02) once a newer run took it. */
export async function takeMoveRun(owner: Q, move: string): Promise<number> {
  const res = await owner.query<{ n: number }>('select app_priv_placement_xmove_run($1) as n', [move]);
  return res.rows[0]!.n ?? 0;
}

/** Rows of a placed table of the move's organization, as jsonb objects (see migration 0076). */
export async function sourceRows(
  source: Q,
  move: string,
  table: string,
  keys: readonly string[],
  opts: { after?: KeyRow | null; horizon?: string | null; limit?: number | null; keyRows?: KeyRow[] },
): Promise<Record<string, unknown>[]> {
  const res = await source.query<{ r: Record<string, unknown>[] }>(
    'select app_priv_placement_xmove_rows($1, $2, $3, $4, $5, $6, $7) as r',
    [
      move,
      table,
      keys,
      opts.after ?? null,
      opts.horizon ?? null,
      opts.limit ?? null,
      opts.keyRows ? JSON.stringify(opts.keyRows) : null,
    ],
  );
  return res.rows[0]!.r;
}

export interface TableSummary {
  readonly rows: number;
  readonly checksum: string;
  readonly keys: KeyRow[] | null;
}

export async function tableSummary(
  db: Q,
  move: string,
  table: string,
  keys: readonly string[],
  withKeys: boolean,
  /** false: the row count only (`checksum` null). */
  checksum = true,
): Promise<TableSummary> {
  const res = await db.query<{ s: { rows: string | number; checksum: string; keys: KeyRow[] | null } }>(
    'select app_priv_placement_xmove_summary($1, $2, $3, $4, $5) as s',
    [move, table, keys, withKeys, checksum],
  );
  const s = res.rows[0]!.s;
  return { rows: Number(s.rows), checksum: s.checksum, keys: s.keys };
}

export async function importRows(
  target: Q,
  move: string,
  run: number,
  table: string,
  keys: readonly string[],
  rows: readonly unknown[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const res = await target.query<{ n: number }>(
    'select app_priv_placement_xmove_import($1, $5, $2, $3, $4) as n',
    [move, table, keys, JSON.stringify(rows), run],
  );
  return res.rows[0]!.n;
}

/** Deletes the target's rows of `keyRows`, or (null, while aborting) every row of the organization. */
export async function deleteRows(
  target: Q,
  move: string,
  run: number,
  table: string,
  keys: readonly string[],
  keyRows: KeyRow[] | null,
): Promise<number> {
  const res = await target.query<{ n: number }>(
    'select app_priv_placement_xmove_delete($1, $5, $2, $3, $4) as n',
    [move, table, keys, keyRows === null ? null : JSON.stringify(keyRows), run],
  );
  return res.rows[0]!.n;
}

export async function replacePending(
  target: Q,
  move: string,
  run: number,
  rows: readonly unknown[],
): Promise<number> {
  const res = await target.query<{ n: number }>('select app_priv_placement_xmove_pending($1, $3, $2) as n', [
    move,
    JSON.stringify(rows),
    run,
  ]);
  return res.rows[0]!.n;
}

export async function unaggregatedEvents(source: Q, move: string): Promise<KeyRow[]> {
  const res = await source.query<{ k: KeyRow[] }>('select app_priv_placement_xmove_unaggregated($1) as k', [
    move,
  ]);
  return res.rows[0]!.k;
}

export async function claimUsage(target: Q, move: string, run: number, keyRows: KeyRow[]): Promise<number> {
  const res = await target.query<{ n: number }>(
    'select app_priv_placement_xmove_usage_claim($1, $3, $2) as n',
    [move, JSON.stringify(keyRows), run],
  );
  return res.rows[0]!.n;
}

/** Takes (releases) the organization's move lock at session level on this connection of the source. */
export async function holdMoveLock(source: pg.ClientBase, move: string, on: boolean): Promise<void> {
  await source.query('select app_priv_placement_xmove_hold($1, $2)', [move, on]);
}

export async function switchTarget(
  target: Q,
  move: string,
  run: number,
  audit: Record<string, unknown>,
): Promise<void> {
  await target.query('select app_priv_placement_xmove_switch_target($1, $3, $2)', [
    move,
    JSON.stringify(audit),
    run,
  ]);
}

export async function switchSource(
  source: Q,
  move: string,
  gid: string,
  region: string | null,
  run: number,
): Promise<void> {
  await source.query('select app_priv_placement_xmove_switch($1, $2, $3, $4)', [move, gid, region, run]);
}

export async function activatePlacement(source: Q, move: string): Promise<void> {
  await source.query('select app_priv_placement_xmove_activate($1)', [move]);
}

export async function discardSource(source: Q, move: string, table: string, limit: number): Promise<number> {
  const res = await source.query<{ n: number }>('select app_priv_placement_xmove_discard($1, $2, $3) as n', [
    move,
    table,
    limit,
  ]);
  return res.rows[0]!.n;
}

/** The move's step in this database's records (the control database's row, or the tenant database's
 *  mirror), null when it has none; a transaction still holding the row (a switch's COMMIT in flight) is
 *  waited out, up to `lockTimeoutMs`. */
export async function moveStepOf(db: pg.Pool, move: string, lockTimeoutMs = 10_000): Promise<string | null> {
  const c = await db.connect();
  try {
    await c.query('begin');
    await c.query(`select set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
    const res = await c.query<{ s: string | null }>('select app_priv_placement_xmove_step($1) as s', [move]);
    await c.query('commit');
    return res.rows[0]!.s;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** The name of the move's prepared part in the tenant database it goes into (one per move: a resumed run
 *  finds it); `source`: the part in the tenant database a move leaves (migration 0078). Distinct names:
 *  a prepared transaction's name is unique on its server, and both databases may be on one. */
export const moveGid = (move: string, side: 'target' | 'source' = 'target') =>
  `sr_m${side === 'target' ? 'v' : 's'}_${move.replaceAll('-', '')}`;

/** Commits (or rolls back) the move's prepared part in a tenant database if it is still there. */
export async function settlePrepared(
  target: Q,
  move: string,
  commit: boolean,
  side: 'target' | 'source' = 'target',
): Promise<boolean> {
  const gid = moveGid(move, side);
  const res = await target.query(
    'select 1 from pg_prepared_xacts where gid = $1 and database = current_database()',
    [gid],
  );
  if (res.rowCount === 0) return false;
  await target.query(`${commit ? 'commit' : 'rollback'} prepared '${gid}'`);
  return true;
}

/** The record of a move in the tenant database it leaves (migration 0078), moved to `step` (forward only;
 *  null: the run's fence alone). */
export async function sourceMirror(
  source: Q,
  m: {
    id: string;
    organizationId: string;
    fromDatabaseKey: string | null;
    to: string;
    databaseKey: string | null;
  },
  run: number,
  step: string | null,
): Promise<void> {
  await source.query('select app_priv_placement_xmove_source_mirror($1, $2, $3, $4, $5, $6, $7)', [
    m.id,
    m.organizationId,
    m.fromDatabaseKey,
    m.to,
    m.databaseKey,
    step,
    run,
  ]);
}

/** The decision of a move out of a tenant database into the control database (`pooled` or `schema`): run
 *  in the transaction that wrote the final delta there; its COMMIT decides. */
export async function switchOut(
  control: Q,
  move: string,
  run: number,
  gid: string,
  schemaVersion: string,
  audit: Record<string, unknown>,
): Promise<void> {
  await control.query('select app_priv_placement_xmove_out_switch($1, $2, $3, $4, $5)', [
    move,
    run,
    gid,
    schemaVersion,
    JSON.stringify(audit),
  ]);
}

/** The copy's horizon of a move in the database it leaves (an xmin there, as text; null: no record). */
export async function moveHorizon(db: Q, move: string): Promise<string | null> {
  const res = await db.query<{ x: string | null }>('select app_priv_placement_xmove_horizon($1) as x', [
    move,
  ]);
  return res.rows[0]!.x;
}
