import type pg from 'pg';
import {
  claimUsage,
  deleteRows,
  discardSource,
  importRows,
  replacePending,
  sourceRows,
  tableSummary,
  unaggregatedEvents,
  type KeyRow,
} from '../../platform/tenancy/privileged-database-move.js';
import type { PlacementMove } from '../../platform/tenancy/privileged-placement.js';
import { PlacementMoveError } from './tenant-placement.errors.js';
import type { MoveTable } from './move-tables.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';
import { catchUpRounds, retryOnLockTimeout } from './move-rounds.js';
import { dataTransaction } from './move-transaction.js';

/** A move as one run sees it: `run`, the run's number (the fence of its writes, see takeMoveRun). */
export type RunMove = PlacementMove & { readonly run: number };
type Q = pg.Pool | pg.ClientBase;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The two databases of a move between the control database and a tenant database, or two tenant
 *  databases: the owner-role pool of each (the control database's is `deps.owner`). */
export interface MoveSides {
  source(m: RunMove): pg.Pool;
  target(m: RunMove): pg.Pool;
}

const keyOf = (row: Record<string, unknown>, keys: readonly string[]): KeyRow =>
  keys.map((k) => String(row[k]));
const keyText = (k: KeyRow) => JSON.stringify(k);
const chunks = <T>(xs: readonly T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

/**
 * The copy and the catch-up of a move with a tenant database on either side (docs/isolation-models.md,
 * "Online moves into a tenant database", "… out of a tenant database"), through migration 0076's definer
 * functions (0078's where the control database is the target): rows read from the source as jsonb and
 * upserted into the target, each side authorized by its own record of the move.
 */
export function createMoveData(deps: PlacementMoveDeps, sides: MoveSides) {
  const batch = deps.batchSize ?? 1000;

  /** Imports rows; a batch a foreign key refuses (a child whose parent is not there yet), or a unique key
   *  other than the primary key (a value another row of the target held at an older copy), goes row by
   *  row, skipping those: the next catch-up brings them (its missing rows after its changed ones), and
   *  its comparison fails the round when one is still missing. */
  async function put(t: Q, m: RunMove, table: MoveTable, rows: Record<string, unknown>[]): Promise<number> {
    const skippable = (err: unknown) => ['23503', '23505'].includes((err as { code?: string }).code ?? '');
    // Inside the freeze's transaction a refused statement would abort it: no row-by-row retry there.
    if (t !== sides.target(m)) return importRows(t, m.id, m.run, table.name, table.keys, rows);
    try {
      return await importRows(t, m.id, m.run, table.name, table.keys, rows);
    } catch (err) {
      if (!skippable(err)) throw err;
      if (rows.length === 1) return 0;
      let n = 0;
      for (const row of rows) n += await put(t, m, table, [row]);
      return n;
    }
  }

  /** Every placed table's rows (but audit_pending, which moves whole at the switch), in keyset batches;
   *  then the wait for every instance to have re-read the placement (`moving`). */
  async function copyRows(m: RunMove, list: MoveTable[]): Promise<void> {
    const src = sides.source(m);
    const t = sides.target(m);
    for (const table of list) {
      if (table.name === 'audit_pending') continue;
      let after: KeyRow | null = null;
      for (;;) {
        const rows = await sourceRows(src, m.id, table.name, table.keys, { after, limit: batch });
        await put(t, m, table, rows);
        if (rows.length < batch) break;
        after = keyOf(rows[rows.length - 1]!, table.keys);
      }
    }
    const left = deps.settleMs - (Date.now() - m.createdAt.getTime());
    if (left > 0) await sleep(left);
  }

  /** Rows of `table` the source has and the target lacks, and keys the target has and the source lacks. */
  async function diff(src: pg.ClientBase, t: Q, m: RunMove, table: MoveTable) {
    const [a, b] = await Promise.all([
      tableSummary(src, m.id, table.name, table.keys, true, false),
      tableSummary(t, m.id, table.name, table.keys, true, false),
    ]);
    const inTarget = new Set(b.keys!.map(keyText));
    const inSource = new Set(a.keys!.map(keyText));
    return {
      missing: a.keys!.filter((k) => !inTarget.has(keyText(k))),
      extra: b.keys!.filter((k) => !inSource.has(keyText(k))),
    };
  }

  /**
   * One catch-up of every placed table but audit_pending, the source read in the transaction of `src`:
   * rows written since `horizon` upserted (parents first), then, table by table children first, the row
   * counts compared and, when they differ or the round is `full`, the keys: the target's rows the source
   * no longer has deleted, the source's rows it lacks brought. `verify`: every row's checksum compared.
   */
  async function catchUp(
    src: pg.ClientBase,
    t: Q,
    m: RunMove,
    list: MoveTable[],
    horizon: string,
    opts: { full: boolean; verify: boolean },
  ): Promise<number> {
    const data = list.filter((x) => x.name !== 'audit_pending');
    let changed = 0;
    for (const table of data) {
      const rows = await sourceRows(src, m.id, table.name, table.keys, { horizon });
      changed += rows.length;
      for (const part of chunks(rows, batch)) await put(t, m, table, part);
    }
    const missingOf = new Map<string, KeyRow[]>();
    for (const table of [...data].reverse()) {
      let differs = opts.full;
      if (!differs) {
        const [a, b] = await Promise.all([
          tableSummary(src, m.id, table.name, table.keys, false, false),
          tableSummary(t, m.id, table.name, table.keys, false, false),
        ]);
        differs = a.rows !== b.rows;
      }
      if (!differs) continue;
      const d = await diff(src, t, m, table);
      for (const part of chunks(d.extra, batch))
        changed += await deleteRows(t, m.id, m.run, table.name, table.keys, part);
      missingOf.set(table.name, d.missing);
    }
    for (const table of data) {
      for (const part of chunks(missingOf.get(table.name) ?? [], batch)) {
        const rows = await sourceRows(src, m.id, table.name, table.keys, { keyRows: part });
        changed += await importRows(t, m.id, m.run, table.name, table.keys, rows);
      }
    }
    for (const table of data) {
      // Checksums (every row hashed) only where asked: not in the freeze, under the lock.
      const [a, b] = await Promise.all([
        tableSummary(src, m.id, table.name, table.keys, false, opts.verify),
        tableSummary(t, m.id, table.name, table.keys, false, opts.verify),
      ]);
      if (a.rows !== b.rows || (opts.verify && a.checksum !== b.checksum)) {
        throw new PlacementMoveError(
          'MOVE_CONFLICT',
          `placement move ${m.id}: ${table.name} differs after the ${opts.full ? 'full ' : ''}catch-up${opts.verify ? '' : ' under the lock'} (${a.rows} rows in the source, ${b.rows} in the target)`,
          409,
        );
      }
    }
    return changed;
  }

  /** Catch-up rounds without the lock, each one repeatable-read snapshot of the source, the first from
   *  `since` (the copy's horizon, an xmin of the source); answers the last round's snapshot xmin (the
   *  freeze's horizon). */
  async function rounds(m: RunMove, list: MoveTable[], since: string): Promise<string> {
    let horizon = since;
    await catchUpRounds(
      async (round) => {
        const { changed, xmin } = await dataTransaction(
          sides.source(m),
          'begin isolation level repeatable read read only',
          async (c) => {
            const snap = await c.query<{ x: string }>(
              'select pg_snapshot_xmin(pg_current_snapshot())::text as x',
            );
            const n = await catchUp(c, sides.target(m), m, list, horizon, {
              full: round === 1,
              verify: true,
            });
            return { changed: n, xmin: snap.rows[0]!.x };
          },
        );
        horizon = xmin;
        deps.log?.info({ move: m.id, round, changed }, 'placement move: caught up before the freeze');
        return changed;
      },
      { enough: deps.catchUpRows, max: deps.catchUpRounds },
    );
    return horizon;
  }

  /** The switch after the copy: the catch-up rounds from `since`, then `freeze` from the last round's
   *  horizon, again after its lock timeout (move-rounds.ts). */
  async function roundsThenFreeze(
    m: RunMove,
    list: MoveTable[],
    since: string,
    freeze: (horizon: string) => Promise<void>,
  ): Promise<void> {
    const horizon = await rounds(m, list, since);
    await deps.beforeFreeze?.();
    await retryOnLockTimeout(() => freeze(horizon), {
      attempts: deps.switchAttempts,
      log: deps.log,
      move: m.id,
    });
  }

  /** Inside the freeze (the move lock held, `src` the source's transaction, `tc` the target's): the rows
   *  changed since `horizon`, `audit_pending` whole, and the usage events the source had not aggregated
   *  claimed by the target. */
  async function finalDelta(
    src: pg.ClientBase,
    tc: pg.ClientBase,
    m: RunMove,
    list: MoveTable[],
    horizon: string,
  ): Promise<void> {
    await catchUp(src, tc, m, list, horizon, { full: false, verify: false });
    const pending = await sourceRows(src, m.id, 'audit_pending', ['pending_id'], {});
    await replacePending(tc, m.id, m.run, pending);
    await claimUsage(tc, m.id, m.run, await unaggregatedEvents(src, m.id));
  }

  /** Cleaning: the organization's rows deleted from the source, children first, in batches. */
  async function discardRows(m: RunMove, list: MoveTable[]): Promise<void> {
    const src = sides.source(m);
    for (const table of [...list].reverse()) {
      while ((await discardSource(src, m.id, table.name, batch)) > 0) {
        // batches until none is left
      }
    }
  }

  /** Aborting: the rows the copy wrote into the target deleted, children first. */
  async function deleteCopy(m: RunMove, list: MoveTable[]): Promise<void> {
    const t = sides.target(m);
    for (const table of [...list].reverse()) {
      await deleteRows(t, m.id, m.run, table.name, table.keys, null);
    }
  }

  return { put, copyRows, catchUp, rounds, roundsThenFreeze, finalDelta, discardRows, deleteCopy, batch };
}
