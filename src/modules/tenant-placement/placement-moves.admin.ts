import type { Logger } from 'pino';
import {
  recordPlatformAudit,
  platformSessionToken,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { decodeCursor, toPage, type Page } from '../../platform/pagination.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import { PlacementMoveError } from './tenant-placement.errors.js';
import type { MoveTarget, PlacementMove, PlacementMoveService } from './tenant-placement.service.js';

/** Most moves on one page (the listing function answers at most 100 rows, and a page reads one more). */
export const MAX_MOVES_PAGE = 50;

/** A tenant database a move can go into or leave (`database:<key>`), and the regions (REGIONS) it holds. */
export interface PlacementTarget {
  readonly databaseKey: string;
  readonly regions: string[];
}

/** Platform administrators' side of the move engine: audited start and abort, moves run in this process. */
export interface PlacementMovesAdmin {
  /** Starts a move of `orgId` to `to` (or answers the one this key already started) and runs it in the
   *  background; `replayed` when the key had started it before. */
  start(
    by: PlatformActor,
    orgId: string,
    to: string,
    idempotencyKey?: string,
  ): Promise<{ move: PlacementMove; replayed: boolean }>;
  abort(by: PlatformActor, moveId: string): Promise<PlacementMove>;
  get(moveId: string): Promise<PlacementMove>;
  list(opts: { organizationId?: string; limit?: number; cursor?: string }): Promise<Page<PlacementMove>>;
  /** The tenant databases a move can go into here (configured with an owner URL), by key, with the
   *  regions whose database each is; empty when the server has no owner role (no move at all). */
  targets(): PlacementTarget[];
  /** Waits for the moves this process runs (at shutdown). */
  settle(): Promise<void>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const moveNotFound = (id: string) => new PlacementMoveError('MOVE_NOT_FOUND', `no placement move ${id}`, 404);
const ENDED = new Set(['done', 'aborted', 'failed']);

const adminId = (by: PlatformActor) => (by.actor.kind === 'user' ? by.actor.userId : 'unknown');

/** The cursor key of a move: its creation time and id (the listing's order). */
const keyOf = (m: PlacementMove) => `${m.createdAt.toISOString()}|${m.id}`;
const isMoveKey = (k: string) => {
  const [at, id, ...rest] = k.split('|');
  return rest.length === 0 && !!id && UUID_RE.test(id) && !Number.isNaN(Date.parse(at ?? ''));
};

/** `pooled`, `schema`, `database:<key>`, or `region:<name>` (its tenant database): the engine's target.
 *  422 MOVE_TARGET_UNSUPPORTED for anything else, or a region not configured. */
export function moveTarget(to: string, regionKey?: (region: string) => string | undefined): MoveTarget {
  if (to === 'pooled' || to === 'schema') return to;
  if (/^database:[a-z][a-z0-9_-]{0,62}$/.test(to)) return to as MoveTarget;
  const region = /^region:(.+)$/.exec(to)?.[1];
  const key = region === undefined ? undefined : regionKey?.(region);
  if (key !== undefined) return `database:${key}`;
  throw new PlacementMoveError(
    'MOVE_TARGET_UNSUPPORTED',
    region === undefined
      ? `moves go to pooled, schema, database:<key> or region:<name>, not ${to}`
      : `region ${region} is not configured here (REGIONS)`,
    422,
  );
}

/**
 * `engine` is undefined when the server has no owner-role connection (MIGRATION_DATABASE_URL in external
 * mode): every call is then a 503 naming what to configure, and the rest of the platform works.
 */
export function createPlacementMovesAdmin(deps: {
  engine: PlacementMoveService | undefined;
  platformDb: PlatformDb;
  log: Logger;
  /** The tenant database key of a configured region (REGIONS), for `region:<name>` targets. */
  regionKey?: (region: string) => string | undefined;
  /** The tenant databases configured with an owner URL, and their regions (sorted by key). */
  targets?: () => PlacementTarget[];
}): PlacementMovesAdmin {
  const running = new Set<Promise<unknown>>();

  function engine(): PlacementMoveService {
    if (deps.engine) return deps.engine;
    throw new PlacementMoveError(
      'MOVE_OWNER_ROLE_MISSING',
      'placement moves need the owner role: set MIGRATION_DATABASE_URL for the server (or move with `npx saasready tenant move`)',
      503,
    );
  }

  /** Runs `work` after the response, logged; the move's record says how it ended. */
  function background(moveId: string, work: () => Promise<unknown>): void {
    const p = work()
      .catch((err: unknown) => deps.log.error({ err, move: moveId }, 'placement move: failed'))
      .finally(() => running.delete(p));
    running.add(p);
  }

  async function audit(by: PlatformActor, action: string, m: PlacementMove): Promise<void> {
    await withPlatformScope(deps.platformDb, platformSessionToken(by), (scope) =>
      recordPlatformAudit(scope, by, {
        action,
        target: { type: 'organization', id: m.organizationId },
        // The tenant databases by key, where a side is one (the database the organization leaves included).
        metadata: {
          move_id: m.id,
          from: m.from,
          to: m.to,
          ...(m.fromDatabaseKey ? { from_database_key: m.fromDatabaseKey } : {}),
          ...(m.databaseKey ? { database_key: m.databaseKey } : {}),
        },
      }),
    );
  }

  async function get(moveId: string): Promise<PlacementMove> {
    if (!UUID_RE.test(moveId)) throw moveNotFound(moveId);
    return engine().get(moveId);
  }

  return {
    async start(by, orgId, to, idempotencyKey) {
      const e = engine();
      const target = moveTarget(to, deps.regionKey);
      if (!isTenantId(orgId)) {
        throw new PlacementMoveError('ORGANIZATION_NOT_FOUND', 'organization not found', 404);
      }
      // The key is kept with the move (its `requestedBy`), so a retry finds the move it started even
      // after that move has ended (when a new start would be refused: already placed there).
      const actor = `user:${adminId(by)}${idempotencyKey ? ` key:${idempotencyKey}` : ''}`;
      if (idempotencyKey) {
        const earlier = (await e.list({ orgId, limit: 100 })).find((m) => m.requestedBy === actor);
        if (earlier) return { move: earlier, replayed: true };
      }
      // A move under way (started by someone else, or by the CLI) is answered as it is and left to
      // whoever runs it: two runners of one move would race each other's steps.
      const [latest] = await e.list({ orgId, limit: 1 });
      const move = await e.start(orgId, target, actor);
      if (latest && latest.id === move.id) return { move, replayed: false };
      await audit(by, 'organization.placement_move_started', move);
      background(move.id, () => e.run(move.id));
      return { move, replayed: false };
    },
    async abort(by, moveId) {
      const e = engine();
      const m = await get(moveId);
      if (ENDED.has(m.step)) {
        throw new PlacementMoveError('MOVE_NOT_ABORTABLE', `placement move ${moveId} is ${m.step}`, 409);
      }
      await audit(by, 'organization.placement_move_aborted', m);
      background(moveId, () => e.abort(moveId, `user:${adminId(by)}`));
      // The engine records `aborting` first: answer once it has, so the caller sees the abort taken.
      for (let i = 0; i < 50; i++) {
        const now = await e.get(moveId);
        if (now.step !== m.step) return now;
        await new Promise((r) => setTimeout(r, 20));
      }
      return e.get(moveId);
    },
    get,
    targets: () => (deps.engine ? (deps.targets?.() ?? []) : []),
    async list(opts) {
      const e = engine();
      const limit = Math.min(Math.max(opts.limit ?? 20, 1), MAX_MOVES_PAGE);
      const key = decodeCursor(opts.cursor, isMoveKey);
      const [at, id] = key ? key.split('|') : [];
      if (opts.organizationId !== undefined && !isTenantId(opts.organizationId)) {
        return { data: [], nextCursor: null };
      }
      const rows = await e.list({
        orgId: opts.organizationId,
        before: at && id ? { createdAt: new Date(at), id } : undefined,
        limit: limit + 1,
      });
      return toPage(rows, limit, keyOf, (m) => m);
    },
    async settle() {
      await Promise.allSettled([...running]);
    },
  };
}
