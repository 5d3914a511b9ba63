import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * Two-phase commit of a `database` placement's scope that wrote both its tenant database and the control
 * database (split-connection.ts), and the resolution of what a crash leaves behind.
 *
 * The protocol (the control database's COMMIT is the decision):
 * 1. the tenant database's part: `PREPARE TRANSACTION gid` (durable, locks kept, invisible until decided);
 * 2. the control database's part records `commit` for the gid (`app_tenant_commit_decide`, migration 0071)
 *    in its own transaction, and COMMITs; if that fails, the gid's outcome is asked for
 *    (`app_tenant_commit_outcome`, which rules out an undecided gid) and applied;
 * 3. `COMMIT PREPARED gid` on the tenant database.
 *
 * A process that dies between 1 and 3 leaves a prepared part (it holds its locks). The resolver lists the
 * tenant database's prepared parts of ours older than `minAgeMs`, asks the control database for their
 * outcomes (an undecided one is ruled out there first, so a coordinator still alive cannot decide it
 * later: its `decide` fails and its control transaction rolls back) and commits or rolls back each one;
 * then it forgets the decisions of parts that are gone. Both outcomes leave the two databases agreeing.
 */

export const GID_PREFIX = 'sr_tc_';
/** `sr_tc_<organization id, 32 hex>_<random, 32 hex>`: a scope can decide only its own organization's
 *  gids (app_tenant_commit_decide checks the first part against its tenant). */
export const GID = /^sr_tc_[0-9a-f]{32}_[0-9a-f]{32}$/;

/** A new global transaction id for a scope of `organizationId`. */
export const newGid = (organizationId: string): string =>
  `${GID_PREFIX}${organizationId.replaceAll('-', '')}_${randomUUID().replaceAll('-', '')}`;

/** Recorded in the control database's transaction, with its COMMIT (a directory-side statement). */
export const DECIDE_SQL = 'select app_tenant_commit_decide($1, $2)';

/** The outcome of gids of one tenant database, from the control database; an undecided gid is ruled out
 *  (`abort`) first. Outside any tenant scope, on a plain connection of the runtime role. */
export async function outcomesOf(
  control: pg.Pool,
  key: string,
  gids: readonly string[],
): Promise<Map<string, 'commit' | 'abort'>> {
  const res = await control.query<{ gid: string; outcome: 'commit' | 'abort' }>(
    'select gid, outcome from app_tenant_commit_outcome($1::text[], $2)',
    [gids, key],
  );
  return new Map(res.rows.map((r) => [r.gid, r.outcome]));
}

/** Applies an outcome to a prepared part (on any connection of the tenant database: prepared
 *  transactions belong to no session). The gid is checked before it is put into the text. */
export async function applyOutcome(
  client: pg.ClientBase | pg.Pool,
  gid: string,
  outcome: 'commit' | 'abort',
): Promise<void> {
  if (!GID.test(gid)) throw new Error('invalid prepared transaction id');
  await client.query(outcome === 'commit' ? `commit prepared '${gid}'` : `rollback prepared '${gid}'`);
}

/** What one `app_tenant_commit_pending` call lists at most (migration 0071). */
const PENDING_PAGE = 10_000;

export interface ResolveResult {
  readonly committed: number;
  readonly rolledBack: number;
  readonly forgotten: number;
}

/**
 * Resolves the prepared parts of ours left on one tenant database for at least `minAgeMs` (a coordinator
 * alive takes milliseconds between its PREPARE and its decision), then forgets the decisions, older than
 * `forgetAfterMs`, of parts no longer prepared there.
 */
export async function resolvePreparedCommits(opts: {
  readonly control: pg.Pool;
  readonly tenant: pg.Pool;
  readonly key: string;
  readonly minAgeMs?: number;
  readonly forgetAfterMs?: number;
}): Promise<ResolveResult> {
  const minAge = opts.minAgeMs ?? 30_000;
  const forgetAfter = opts.forgetAfterMs ?? 5 * 60_000;
  const listed = await opts.tenant.query<{ gid: string; old: boolean }>(
    `select gid, prepared < now() - make_interval(secs => $1::double precision / 1000) as old
       from pg_catalog.pg_prepared_xacts
      where database = current_database() and gid like 'sr\\_tc\\_%' and owner = current_user`,
    [minAge],
  );
  const stale = listed.rows.filter((r) => r.old && GID.test(r.gid)).map((r) => r.gid);
  let committed = 0;
  let rolledBack = 0;
  if (stale.length > 0) {
    const outcomes = await outcomesOf(opts.control, opts.key, stale);
    for (const gid of stale) {
      const outcome = outcomes.get(gid) ?? 'abort';
      try {
        await applyOutcome(opts.tenant, gid, outcome);
        if (outcome === 'commit') committed++;
        else rolledBack++;
      } catch (err) {
        // Resolved meanwhile by its coordinator or another resolver (42704: no such prepared transaction).
        if ((err as { code?: string }).code !== '42704') throw err;
      }
    }
  }
  // Decisions of parts that are gone: every gid still prepared stays, decided or not. Page by page (the
  // listing is bounded), so a pass keeps up with any rate of two-phase commits.
  const still = new Set(listed.rows.map((r) => r.gid));
  let forgotten = 0;
  for (let page = 0; page < 100; page++) {
    const res = await opts.control.query<{ gid: string }>(
      `select gid from app_tenant_commit_pending($1, $2::double precision / 1000)`,
      [opts.key, forgetAfter],
    );
    const gone = res.rows.map((r) => r.gid).filter((g) => !still.has(g));
    if (gone.length > 0) {
      const f = await opts.control.query<{ n: number }>(
        'select app_tenant_commit_forget($1::text[], $2) as n',
        [gone, opts.key],
      );
      forgotten += f.rows[0]?.n ?? 0;
    }
    if (res.rows.length < PENDING_PAGE || gone.length === 0) break;
  }
  return { committed, rolledBack, forgotten };
}

export interface PreparedCommitResolver {
  /** One pass over every tenant database (what the timer runs). */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs `resolvePreparedCommits` for every configured tenant database every `intervalMs` (default 60 s;
 * the first pass one interval after start). A database that cannot be reached is logged and tried again
 * next time.
 */
export function startPreparedCommitResolver(opts: {
  readonly control: pg.Pool;
  readonly databases: { readonly keys: readonly string[]; get(key: string): { pool: pg.Pool } | undefined };
  readonly log: Logger;
  readonly intervalMs?: number;
  readonly minAgeMs?: number;
  /** The prepared parts of placement moves into the database `key` (`sr_mv_*`) a dead run left, settled
   *  by the move engine (tenant-placement/move-parts.ts); absent where the owner roles are not configured. */
  readonly moveParts?: (key: string) => Promise<{ committed: number; rolledBack: number }>;
}): PreparedCommitResolver {
  let running: Promise<void> | undefined;
  let stopped = false;
  const runOnce = async (): Promise<void> => {
    for (const key of opts.databases.keys) {
      if (stopped) return;
      const db = opts.databases.get(key);
      if (!db) continue;
      try {
        const r = await resolvePreparedCommits({
          control: opts.control,
          tenant: db.pool,
          key,
          minAgeMs: opts.minAgeMs,
        });
        if (r.committed + r.rolledBack > 0) {
          opts.log.warn(
            { tenant_database: key, committed: r.committed, rolled_back: r.rolledBack },
            'two-phase commit: prepared transactions left by an interrupted scope resolved',
          );
        }
      } catch (err) {
        opts.log.error(
          { err, tenant_database: key },
          'two-phase commit: resolving prepared transactions failed',
        );
      }
      try {
        const r = await opts.moveParts?.(key);
        if (r && r.committed + r.rolledBack > 0) {
          opts.log.warn(
            { tenant_database: key, committed: r.committed, rolled_back: r.rolledBack },
            'placement moves: prepared parts left by a dead run resolved',
          );
        }
      } catch (err) {
        opts.log.error({ err, tenant_database: key }, 'placement moves: resolving prepared parts failed');
      }
    }
  };
  const tick = () => {
    if (stopped || running) return;
    running = runOnce().finally(() => {
      running = undefined;
    });
  };
  // No pass at start: only parts older than `minAgeMs` are resolved anyway, and a pass opens a connection
  // to every configured tenant database (their pools close again when idle).
  const timer = setInterval(tick, opts.intervalMs ?? 60_000);
  timer.unref();
  return {
    runOnce: async () => {
      await running;
      await runOnce();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
