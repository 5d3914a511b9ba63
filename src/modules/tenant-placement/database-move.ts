import type pg from 'pg';
import { PLACEMENT_DDL_LOCK_SQL, dropSchemaAsOwner } from '../../platform/tenancy/placement-schema.js';
import { advanceMove, type PlacementMove } from '../../platform/tenancy/privileged-placement.js';
import {
  activatePlacement,
  claimUsage,
  deleteRows,
  discardSource,
  holdMoveLock,
  importRows,
  mirrorMove,
  moveGid,
  moveStepOf,
  replacePending,
  settlePrepared,
  sourceRows,
  switchSource,
  switchTarget,
  tableSummary,
  unaggregatedEvents,
  type KeyRow,
} from '../../platform/tenancy/privileged-database-move.js';
import { PlacementMoveError } from './tenant-placement.errors.js';
import type { MoveTable } from './move-tables.js';
import type { PlacementMoveDeps } from './tenant-placement.service.js';
import { switchAuditEntry } from './database-move-audit.js';

/** A move as one run sees it: `run`, the run's number (the fence of its writes, see takeMoveRun). */
export type RunMove = PlacementMove & { readonly run: number };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Q = pg.Pool | pg.ClientBase;
const DATA_LOCK = `select pg_advisory_xact_lock_shared(${PLACEMENT_DDL_LOCK_SQL})`;
const keyOf = (row: Record<string, unknown>, keys: readonly string[]): KeyRow =>
  keys.map((k) => String(row[k]));
const keyText = (k: KeyRow) => JSON.stringify(k);
const chunks = <T>(xs: readonly T[], n: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
};

/**
 * The steps of a move from the pooled schema (or the organization's own) of the control database into a tenant database
 * (docs/isolation-models.md, "Online moves into a tenant database"), in the engine's recorded-step shape
 * (tenant-placement.service.ts runs them). The source is read with the owner role of the control database,
 * the target written with the owner role of the tenant database (`TENANT_DATABASES[key].ownerUrl`), both
 * through migration 0076's definer functions.
 */
export function createDatabaseMoveSteps(
  deps: PlacementMoveDeps,
  tables: () => Promise<MoveTable[]>,
): { step(m: RunMove): Promise<void> } {
  const { owner } = deps;
  const batch = deps.batchSize ?? 1000;

  function target(m: RunMove): pg.Pool {
    const pool = m.databaseKey ? deps.targetOwner?.(m.databaseKey) : undefined;
    if (!pool) {
      throw new PlacementMoveError(
        'MOVE_TARGET_UNSUPPORTED',
        `tenant database ${m.databaseKey ?? '?'} has no ownerUrl configured here (TENANT_DATABASES)`,
        422,
      );
    }
    return pool;
  }

  /** Imports rows; a batch a foreign key refuses (a child whose parent is not there yet), or a unique key
   *  other than the primary key (a value another row of the target held at an older copy), goes row by
   *  row, skipping those: the next catch-up brings them (its missing rows after its changed ones), and
   *  its comparison fails the round when one is still missing. */
  async function put(t: Q, m: RunMove, table: MoveTable, rows: Record<string, unknown>[]) {
    const skippable = (err: unknown) => ['23503', '23505'].includes((err as { code?: string }).code ?? '');
    // Inside the freeze's transaction a refused statement would abort it: no row-by-row retry there.
    if (t !== target(m)) return importRows(t, m.id, m.run, table.name, table.keys, rows);
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

  async function copy(m: RunMove): Promise<void> {
    const t = target(m);
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'copying');
    for (const table of await tables()) {
      if (table.name === 'audit_pending') continue; // whole, at the switch
      let after: KeyRow | null = null;
      for (;;) {
        const rows = await sourceRows(owner, m.id, table.name, table.keys, { after, limit: batch });
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

  /** Catch-up rounds without the lock, each one repeatable-read snapshot of the source; answers the last
   *  round's snapshot xmin (the freeze's horizon). */
  async function rounds(m: RunMove, list: MoveTable[]): Promise<string> {
    const enough = deps.catchUpRows ?? 100;
    const max = deps.catchUpRounds ?? 8;
    let horizon = m.copyXmin ?? '0';
    let before = Infinity;
    for (let round = 1; round <= max; round++) {
      const c = await owner.connect();
      let changed: number;
      try {
        await c.query('begin isolation level repeatable read read only');
        await c.query(DATA_LOCK);
        const snap = await c.query<{ x: string }>(
          'select pg_snapshot_xmin(pg_current_snapshot())::text as x',
        );
        changed = await catchUp(c, target(m), m, list, horizon, { full: round === 1, verify: true });
        await c.query('commit');
        horizon = snap.rows[0]!.x;
        deps.log?.info({ move: m.id, round, changed }, 'placement move: caught up before the freeze');
      } catch (err) {
        await c.query('rollback').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
      if (changed <= enough || changed >= before) break;
      before = changed;
    }
    return horizon;
  }

  /**
   * The freeze: the move lock taken at session level (requests of the organization queue), the final
   * delta and audit_pending written in a transaction of the tenant database, the usage events the source
   * had not aggregated claimed there, the move's audit event admitted there, that transaction PREPARED;
   * the control database's switch COMMITTED (the decision); the prepared part COMMITTED; the placement
   * active; the lock released. A failure before the decision rolls both back and changes nothing.
   */
  async function freeze(m: RunMove, list: MoveTable[], horizon: string): Promise<void> {
    const t = target(m);
    const gid = moveGid(m.id);
    const c = await owner.connect();
    const tc = await t.connect();
    let decided = false;
    let held = false;
    let prepared = false;
    let committing = false;
    let lost = false;
    try {
      await c.query('begin');
      await c.query(DATA_LOCK);
      await c.query(`select set_config('lock_timeout', $1, true)`, [`${deps.lockTimeoutMs ?? 5000}ms`]);
      await holdMoveLock(c, m.id, true);
      held = true;
      await tc.query('begin');
      await catchUp(c, tc, m, list, horizon, { full: false, verify: false });
      const pending = await sourceRows(c, m.id, 'audit_pending', ['pending_id'], {});
      await replacePending(tc, m.id, m.run, pending);
      await claimUsage(tc, m.id, m.run, await unaggregatedEvents(c, m.id));
      await deps.duringFreeze?.();
      await switchTarget(tc, m.id, m.run, switchAuditEntry(m));
      await tc.query(`prepare transaction '${gid}'`);
      prepared = true;
      await switchSource(c, m.id, gid, deps.regionOf?.(m.databaseKey!) ?? null, m.run);
      committing = true;
      await c.query('commit');
      committing = false;
      decided = true;
      await deps.afterDecision?.();
      await tc.query(`commit prepared '${gid}'`);
      await activatePlacement(c, m.id);
    } catch (err) {
      if (committing) {
        // The COMMIT's outcome is unknown (its reply lost): the server may have decided. Its connection is
        // dropped (which releases the move lock), and the decision read on a fresh one, the row's lock
        // waiting out a COMMIT still in flight: cleaning, the prepared part commits; switching, it goes.
        lost = true;
        c.release(true);
        await settleUnknown(m, tc, gid);
      } else if (!decided) {
        await c.query('rollback').catch(() => {});
        if (prepared) await tc.query(`rollback prepared '${gid}'`).catch(() => {});
        else await tc.query('rollback').catch(() => {});
      }
      throw err;
    } finally {
      tc.release();
      if (!lost) {
        if (held) await holdMoveLock(c, m.id, false).catch(() => {});
        c.release();
      }
    }
  }

  /** After a switch COMMIT whose outcome is unknown: the control database's step decides the prepared
   *  part. Unreadable (or another step): the part stays prepared, for the next run (which settles it by
   *  the same rule) or the operator. */
  async function settleUnknown(m: RunMove, tc: pg.PoolClient, gid: string): Promise<void> {
    let step: string | null;
    try {
      step = await moveStepOf(owner, m.id);
    } catch (err) {
      deps.log?.error(
        { move: m.id, err },
        'placement move: the switch decision is unknown, its part stays prepared',
      );
      return;
    }
    if (step === 'cleaning' || step === 'done') {
      await tc.query(`commit prepared '${gid}'`);
    } else if (step === 'switching') {
      await tc.query(`rollback prepared '${gid}'`);
    }
    deps.log?.warn(
      { move: m.id, step },
      "placement move: the switch COMMIT's reply was lost, its part settled",
    );
  }

  async function switchOver(m: RunMove): Promise<void> {
    const t = target(m);
    // A run that died inside an earlier freeze, before the control database decided: its part goes
    // (the step read under the row's lock: a switch COMMIT still in flight is waited out first).
    if ((await moveStepOf(owner, m.id)) !== 'switching') return; // decided meanwhile: run re-reads it
    await settlePrepared(t, m.id, false);
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'switching');
    const list = await tables();
    const horizon = await rounds(m, list);
    await deps.beforeFreeze?.();
    const attempts = deps.switchAttempts ?? 3;
    for (let attempt = 1; ; attempt++) {
      try {
        await freeze(m, list, horizon);
        return;
      } catch (err) {
        if ((err as { code?: string }).code === '55P03' && attempt < attempts) {
          deps.log?.warn({ move: m.id, attempt }, 'placement move: the switch waited too long, again');
          continue;
        }
        throw err;
      }
    }
  }

  async function clean(m: RunMove): Promise<void> {
    const t = target(m);
    // The decision is the control database's (this move is cleaning): a part a dead run left, committed.
    await settlePrepared(t, m.id, true);
    // This run fenced in (an older run's writes refused from here on).
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, null);
    // The source is given up only once the tenant database holds the switch's part (its mirror at
    // cleaning: the prepared part committed); otherwise the final delta is not there, and nothing goes.
    const mirrored = await moveStepOf(t, m.id);
    if (mirrored !== 'cleaning' && mirrored !== 'done') {
      throw new PlacementMoveError(
        'MOVE_CONFLICT',
        `placement move ${m.id} switched, but the tenant database ${m.databaseKey} does not hold its part (its record there is ${mirrored ?? 'missing'}): the source is kept, the placement not activated`,
        409,
      );
    }
    await activatePlacement(owner, m.id);
    deps.invalidate(m.organizationId);
    if (m.from === 'schema') {
      await dropSchemaAsOwner(owner, m.organizationId);
    } else {
      for (const table of (await tables()).reverse()) {
        while ((await discardSource(owner, m.id, table.name, batch)) > 0) {
          // batches until none is left
        }
      }
    }
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'done');
    await advanceMove(owner, m.id, 'done');
  }

  async function abort(m: RunMove): Promise<void> {
    const t = target(m);
    await settlePrepared(t, m.id, false);
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'aborting');
    for (const table of (await tables()).reverse()) {
      await deleteRows(t, m.id, m.run, table.name, table.keys, null);
    }
    await mirrorMove(t, m.id, m.run, m.organizationId, m.databaseKey!, 'aborted');
    await advanceMove(owner, m.id, 'aborted');
    deps.invalidate(m.organizationId);
  }

  return {
    async step(m) {
      switch (m.step) {
        case 'preparing':
          target(m);
          deps.invalidate(m.organizationId);
          await advanceMove(owner, m.id, 'copying');
          return;
        case 'copying':
          await copy(m);
          await advanceMove(owner, m.id, 'switching');
          return;
        case 'switching':
          await switchOver(m);
          deps.invalidate(m.organizationId);
          return;
        case 'cleaning':
          await clean(m);
          return;
        case 'aborting':
          await abort(m);
          return;
        default:
          return;
      }
    },
  };
}
