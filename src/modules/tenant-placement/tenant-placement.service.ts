import type pg from 'pg';
import type { Logger } from 'pino';
import type { RoleNames } from '../../platform/db/bootstrap.js';
import { dropPlacementSchema, syncPlacementSchema } from '../../platform/tenancy/placement-schema.js';
import {
  advanceMove,
  beginMove,
  catchUp,
  copyBatch,
  discardBatch,
  listMoves,
  switchMove,
  type MoveKind,
  type MoveStep,
  type PlacementMove,
} from '../../platform/tenancy/privileged-placement.js';
import { PlacementMoveError, moveErrorOf } from './tenant-placement.errors.js';
import { moveTables, type MoveTable } from './move-tables.js';
import { createDatabaseMoveSteps } from './database-move.js';
import { createDatabaseMoveOutSteps } from './database-move-out.js';
import { withMoveLease } from './move-lease.js';
import { switchAuditEntry } from './database-move-audit.js';
import { catchUpRounds, retryOnLockTimeout } from './move-rounds.js';
import { dataTransaction, setLockTimeout } from './move-transaction.js';
import { runMoveStep } from './move-steps.js';
import { sleep } from './database-move-data.js';
import { beginDatabaseMove } from '../../platform/tenancy/privileged-database-move.js';

export type { PlacementMove, MoveKind, MoveStep } from '../../platform/tenancy/privileged-placement.js';

export interface PlacementMoveDeps {
  /** The OWNER role's pool: the schema's DDL and the move functions (migration 0040). */
  readonly owner: pg.Pool;
  readonly roles: RoleNames;
  /** The OWNER role's pool of a configured tenant database (`TENANT_DATABASES[key].ownerUrl`), for moves
   *  into it (`database:<key>`); undefined: not configured here, such moves are refused. */
  readonly targetOwner?: (key: string) => pg.Pool | undefined;
  /** The region (REGIONS) whose database is `key`, if any: recorded as the organization's region
   *  (`organizations.region`) by the switch of a move into that database. */
  readonly regionOf?: (key: string) => string | undefined;
  /** The last migration: recorded as the schema's version when an organization lands in its schema. */
  readonly schemaVersion: string;
  /** Drops the organization's cached placement on every instance (the invalidation bus's `placement`). */
  readonly invalidate: (orgId: string) => void;
  /** How long the copy goes on before the switch, at least: the placement cache's TTL, so every
   *  instance has re-read the placement (`moving`) and takes the guarded path. */
  readonly settleMs: number;
  readonly batchSize?: number;
  /** How long the switch waits for the organization's running transactions (default 5 s); then it
   *  gives up, and tries again, up to `switchAttempts` (default 3) times. */
  readonly lockTimeoutMs?: number;
  readonly switchAttempts?: number;
  /** Catch-up rounds before the freeze (each synchronizes and compares every table, without the lock)
   *  go on until one finds at most `catchUpRows` rows changed (default 100), finds no fewer than the
   *  round before, or `catchUpRounds` (default 8) have run: the freeze then has only what changed since. */
  readonly catchUpRows?: number;
  readonly catchUpRounds?: number;
  readonly log?: Logger;
  /** Told of each step as it starts (the CLI prints it). */
  readonly onStep?: (move: PlacementMove) => void;
  /** TEST ONLY: runs after each step is recorded; a throw there is a crash between steps. */
  readonly afterStep?: (move: PlacementMove) => Promise<void> | void;
  /** TEST ONLY: runs after the last catch-up round, before the freeze (writes the freeze must carry). */
  readonly beforeFreeze?: () => Promise<void>;
  /** TEST ONLY: runs inside the switch transaction, the lock held, before COMMIT (a longer freeze). */
  readonly duringFreeze?: () => Promise<void>;
  /** TEST ONLY (moves into a database): runs once the control database decided the switch, before the
   *  tenant database's prepared part is committed; a throw there is a crash between the two. */
  readonly afterDecision?: () => Promise<void> | void;
}

/** Where a move goes: `pooled`, `schema`, or `database:<key>` (a configured tenant database). */
export type MoveTarget = 'pooled' | 'schema' | `database:${string}`;

export interface PlacementMoveService {
  /** Records a move of `orgId` to `to` and marks it moving (or answers the one under way to `to`). */
  start(orgId: string, to: MoveTarget, actor: string): Promise<PlacementMove>;
  /** Runs a move from its recorded step to its end (`done` or `aborted`): resumable after a crash. */
  run(moveId: string): Promise<PlacementMove>;
  /** Aborts a move: before the switch, the target's copy goes; after it, the organization moves back
   *  (a new move, answered). */
  abort(moveId: string, actor: string): Promise<PlacementMove>;
  get(moveId: string): Promise<PlacementMove>;
  list(filter: {
    orgId?: string;
    before?: { createdAt: Date; id: string };
    limit?: number;
  }): Promise<PlacementMove[]>;
}

const ACTIVE: readonly MoveStep[] = ['preparing', 'copying', 'switching'];
/** How many times one run carries on after another process moved its record on (an abort does once). */
const MOVED_ON_RETRIES = 5;

/**
 * The online move of one organization between the pooled schema and its own schema of the control
 * database (docs/isolation-models.md, "Online moves"). Every step is recorded in `placement_moves`
 * before the next begins, so `run` continues a move from wherever it stopped.
 */
export function createPlacementMoveService(deps: PlacementMoveDeps): PlacementMoveService {
  const { owner } = deps;
  const batch = deps.batchSize ?? 1000;

  async function get(moveId: string): Promise<PlacementMove> {
    const [m] = await listMoves(owner, { moveId, limit: 1 });
    if (!m) throw new PlacementMoveError('MOVE_NOT_FOUND', `no placement move ${moveId}`, 404);
    return m;
  }

  /** One data step (a copy or discard batch) in its own transaction, under the shared DDL lock. */
  const dataStep = <T>(fn: (c: pg.PoolClient) => Promise<T>) => dataTransaction(owner, 'begin', fn);

  async function tables(): Promise<MoveTable[]> {
    const c = await owner.connect();
    try {
      return await moveTables(c);
    } finally {
      c.release();
    }
  }

  async function copy(m: PlacementMove): Promise<void> {
    if (m.to === 'schema') {
      const c = await owner.connect();
      try {
        const synced = await syncPlacementSchema(c, m.organizationId, deps.roles);
        deps.log?.info({ move: m.id, changes: synced.changes.length }, 'placement move: schema synchronized');
      } finally {
        c.release();
      }
    }
    for (const t of await tables()) {
      if (t.name === 'audit_pending') continue; // copied whole at the switch (its ids are reassigned)
      for (;;) {
        const r = await dataStep((c) => copyBatch(c, m.id, t.name, t.keys, batch));
        if (r.done) break;
      }
    }
    // Every instance must have re-read the placement (`moving`) before the switch: wait out the TTL.
    const left = deps.settleMs - (Date.now() - m.createdAt.getTime());
    if (left > 0) await sleep(left);
  }

  /**
   * Catch-up rounds before the freeze, each one repeatable-read transaction (migration 0050): the target
   * brought to the source as the round's snapshot sees it and compared (the first round after the copy:
   * every row's checksum; later ones: the rows changed and the counts), that snapshot recorded as the
   * horizon. Repeated while the organization's writes during a round leave a sizeable delta: what the
   * freeze synchronizes is what was written during the last round.
   */
  async function catchUpBeforeFreeze(m: PlacementMove, list: MoveTable[]): Promise<void> {
    await catchUpRounds(
      async (round) => {
        // The first round of every run is full (a resumed move heals whatever happened in between).
        const r = await dataTransaction(owner, 'begin isolation level repeatable read', (c) =>
          catchUp(c, m.id, list, false, round === 1),
        );
        deps.log?.info({ move: m.id, round, ...r }, 'placement move: caught up before the freeze');
        return r.upserted + r.deleted;
      },
      { enough: deps.catchUpRows, max: deps.catchUpRounds },
    );
  }

  async function switchOver(m: PlacementMove): Promise<void> {
    const list = await tables();
    await catchUpBeforeFreeze(m, list);
    await deps.beforeFreeze?.();
    await retryOnLockTimeout(
      // The shared DDL lock first, before the lock timeout: a synchronization running is waited out.
      () =>
        dataTransaction(owner, 'begin', async (c) => {
          await setLockTimeout(c, deps.lockTimeoutMs);
          // The freeze: the move lock, then only what changed since the last round.
          await catchUp(c, m.id, list, true);
          await switchMove(c, m.id, deps.schemaVersion, switchAuditEntry(m));
          await deps.duringFreeze?.();
        }),
      { attempts: deps.switchAttempts, log: deps.log, move: m.id },
    );
  }

  /** Deletes the organization's rows from the schema not holding its placement (`side`). */
  async function discard(m: PlacementMove, side: MoveKind): Promise<void> {
    if (side === 'schema') {
      const c = await owner.connect();
      try {
        await dropPlacementSchema(c, m.organizationId);
      } finally {
        c.release();
      }
      return;
    }
    for (const t of (await tables()).reverse()) {
      while ((await dataStep((c) => discardBatch(c, m.id, t.name, batch))) > 0) {
        // batches until none is left
      }
    }
  }

  const intoDatabase = createDatabaseMoveSteps(deps, tables);
  const outOfDatabase = createDatabaseMoveOutSteps(deps, tables);

  async function step(m: PlacementMove, run: number): Promise<void> {
    if (m.from === 'database') return outOfDatabase.step({ ...m, run });
    if (m.to === 'database') return intoDatabase.step({ ...m, run });
    return runMoveStep(deps, m, {
      copy,
      switchOver,
      clean: (m) => discard(m, m.from),
      abort: (m) => discard(m, m.to),
    });
  }

  const superseded = (moveId: string, detail: string) =>
    new PlacementMoveError(
      'MOVE_RUNNING',
      `placement move ${moveId}: a newer run took it over (this run's lease was lost): ${detail}`,
      409,
    );

  /** Runs the move's steps holding its lease (`withMoveLease`): one run of a move at a time. */
  async function runSteps(moveId: string, run: number): Promise<PlacementMove> {
    let movedOn = 0;
    for (;;) {
      const m = await get(moveId);
      if (m.runNo !== run) throw superseded(moveId, `run ${run}, the live run is ${m.runNo}`);
      if (!['preparing', 'copying', 'switching', 'cleaning', 'aborting'].includes(m.step)) return m;
      deps.onStep?.(m);
      try {
        await step(m, run);
      } catch (err) {
        // SRM02: a newer run of this move took its lease (this one lost it): this run stops, its step
        // and error left to the live run.
        if ((err as { code?: string }).code === 'SRM02') {
          throw superseded(moveId, (err as Error).message);
        }
        // 55000 says the record is not at the step the function expected: when another process moved
        // it on (an abort), carry on from its step; when it did not, the refusal stands (a state that
        // never clears): the error is recorded and thrown, never retried.
        if ((err as { code?: string }).code === '55000' && movedOn < MOVED_ON_RETRIES) {
          const now = await get(moveId);
          if (now.step !== m.step) {
            movedOn++;
            continue;
          }
        }
        await advanceMove(owner, moveId, null, (err as Error).message).catch(() => {});
        throw moveErrorOf(err);
      }
      await deps.afterStep?.(await get(moveId));
    }
  }

  const run = (moveId: string) => withMoveLease(owner, moveId, (run) => runSteps(moveId, run));

  /** Runs the move, or, when a run elsewhere holds its lease, leaves the recorded step to that run. */
  async function runOrLeave(moveId: string): Promise<PlacementMove> {
    try {
      return await run(moveId);
    } catch (err) {
      if (err instanceof PlacementMoveError && err.code === 'MOVE_RUNNING') return get(moveId);
      throw err;
    }
  }

  /** The move back of a switched move with a tenant database on a side, once it is done. */
  async function runBack(m: PlacementMove, actor: string): Promise<PlacementMove> {
    const back = m.from === 'database' ? (`database:${m.fromDatabaseKey}` as const) : m.from;
    // A move back under way already (another abort's): left to its run; one that ended: answered.
    try {
      return await runOrLeave((await start(m.organizationId, back, actor)).id);
    } catch (err) {
      if (!(err instanceof PlacementMoveError && err.code === 'MOVE_ALREADY_PLACED')) throw err;
      const [latest] = await listMoves(owner, { orgId: m.organizationId, limit: 1 });
      return latest ?? m;
    }
  }

  async function start(orgId: string, to: MoveTarget, actor: string): Promise<PlacementMove> {
    const key = /^database:([a-z][a-z0-9_-]{0,62})$/.exec(to)?.[1];
    if (to !== 'pooled' && to !== 'schema' && key === undefined) {
      throw new PlacementMoveError(
        'MOVE_TARGET_UNSUPPORTED',
        `moves to ${String(to)} are not supported: pooled, schema or database:<key>`,
        422,
      );
    }
    if (key !== undefined && !deps.targetOwner?.(key)) {
      throw new PlacementMoveError(
        'MOVE_TARGET_UNSUPPORTED',
        `tenant database ${key} is not configured here with an ownerUrl (TENANT_DATABASES)`,
        422,
      );
    }
    let m: PlacementMove;
    try {
      if (key !== undefined) m = await get(await beginDatabaseMove(owner, orgId, key, actor));
      else m = await get(await beginMove(owner, orgId, to as MoveKind, actor));
    } catch (err) {
      throw moveErrorOf(err);
    }
    // A move out of a tenant database reads it with its owner role: one not configured here is refused
    // (the move just recorded, still preparing, aborted: nothing was copied).
    if (m.from === 'database' && m.step === 'preparing' && !deps.targetOwner?.(m.fromDatabaseKey ?? '')) {
      await advanceMove(owner, m.id, 'aborting');
      await advanceMove(owner, m.id, 'aborted');
      throw new PlacementMoveError(
        'MOVE_TARGET_UNSUPPORTED',
        `tenant database ${m.fromDatabaseKey} (the organization's) is not configured here with an ownerUrl (TENANT_DATABASES)`,
        422,
      );
    }
    return m;
  }

  return {
    start,
    run,
    async abort(moveId, actor) {
      const m = await get(moveId);
      if (ACTIVE.includes(m.step)) {
        await advanceMove(owner, moveId, 'aborting').catch(async (err: unknown) => {
          // The switch decided meanwhile (the row lock waited it out): too late to abort.
          const now = (err as { code?: string }).code === '55000' ? await get(moveId) : undefined;
          if (now && now.step !== m.step) {
            throw new PlacementMoveError(
              'MOVE_NOT_ABORTABLE',
              `placement move ${moveId} is ${now.step} now, not abortable`,
              409,
            );
          }
          throw moveErrorOf(err);
        });
        return runOrLeave(moveId);
      }
      if (m.step === 'aborting') return runOrLeave(moveId);
      if (m.step === 'cleaning' && (m.to === 'database' || m.from === 'database')) {
        // Decided by its switch (a tenant database is one side): it ends (here, or in the run that holds
        // it: this abort runs it itself once that run has gone), then the organization moves back.
        let ended = await runOrLeave(moveId);
        while (ended.step === 'cleaning') {
          await sleep(1000);
          ended = await runOrLeave(moveId);
        }
        if (ended.step !== 'done') {
          throw new PlacementMoveError(
            'MOVE_NOT_ABORTABLE',
            `placement move ${moveId} is ${ended.step}, not done: the organization is not moved back`,
            409,
          );
        }
        return runBack(ended, actor);
      }
      if (m.step === 'cleaning') {
        await advanceMove(owner, moveId, 'aborted');
        const back = await beginMove(owner, m.organizationId, m.from, actor);
        return run(back);
      }
      throw new PlacementMoveError('MOVE_NOT_ABORTABLE', `placement move ${moveId} is ${m.step}`, 409);
    },
    get,
    list: (filter) => listMoves(owner, filter),
  };
}
