import pg from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import { knownMigrations } from '../platform/db/migrate.js';
import { isTenantId } from '../platform/tenancy/context.js';
import { createInvalidationBus } from '../platform/cache/invalidation-bus.js';
import { PlacementMoveError } from '../modules/tenant-placement/tenant-placement.errors.js';
import {
  createPlacementMoveService,
  type MoveTarget,
  type PlacementMove,
} from '../modules/tenant-placement/tenant-placement.service.js';
import { moveTarget } from '../modules/tenant-placement/placement-moves.admin.js';
import { createTargetOwners } from '../modules/tenant-placement/target-owners.js';
import { connectForCli } from './connect.js';
import { regionOfDatabase } from '../platform/config-tenant-databases.js';

export interface TenantMoveArgs {
  /** Organization id or slug. */
  readonly org: string;
  /** `pooled` | `schema` | `database:<key>` | `region:<name>`, from any placement (a `database` one leaves
   *  its tenant database: to pooled, its schema, or another tenant database). */
  readonly to?: string;
  readonly abort?: boolean;
  readonly status?: boolean;
}

/** One line per move state, as the CLI prints it. */
export function moveLine(m: PlacementMove): string {
  const copied = Object.values(m.progress).reduce((n, p) => n + (p.copied ?? 0), 0);
  const from = m.fromDatabaseKey ? `${m.from}:${m.fromDatabaseKey}` : m.from;
  const to = m.databaseKey ? `${m.to}:${m.databaseKey}` : m.to;
  const parts = [`move ${m.id}: ${from} -> ${to}, step ${m.step}`];
  if (copied > 0) parts.push(`${copied} rows copied`);
  if (m.freezeMs !== null) parts.push(`freeze ${m.freezeMs} ms`);
  if (m.error) parts.push(`last error: ${m.error}`);
  return parts.join(', ');
}

/**
 * `saasready tenant move <org> --to pooled|schema|database:<key>|region:<name> [--abort | --status]`: the
 * online move of one organization between the pooled schema and its own, into a tenant database, or out of
 * one (to pooled, its schema, or another tenant database; the database it leaves configured with an ownerUrl)
 * (src/modules/tenant-placement/), as the owner role (the schema's DDL and the move functions). Re-running continues a move from its recorded step. The
 * running servers learn of the placement change through the invalidation bus (REDIS_URL) or, without
 * it, within the placement cache's TTL, which the move waits out before its switch.
 */
export async function tenantMove(
  config: AppConfig,
  log: Logger,
  args: TenantMoveArgs,
  write: (line: string) => void,
): Promise<number> {
  let target: MoveTarget | undefined;
  try {
    const regions = config.tenantDatabases.regions ?? {};
    target = args.to
      ? moveTarget(args.to, (r) => (Object.hasOwn(regions, r) ? regions[r] : undefined))
      : undefined;
  } catch (err) {
    write(`saasready: ${(err as Error).message}`);
    return 1;
  }
  const targetOwners = createTargetOwners(config.tenantDatabases.databases);
  const { pool: owner, roles, close } = await connectForCli(config, log, 'owner');
  const runtime = await connectForCli(config, log, 'runtime');
  const bus = createInvalidationBus({ redisUrl: config.redisUrl, apply: () => {}, log });
  try {
    const orgId = isTenantId(args.org) ? args.org : await idBySlug(runtime.pool, args.org);
    if (!orgId) {
      write(`saasready: no organization ${args.org}`);
      return 1;
    }
    const service = createPlacementMoveService({
      owner,
      roles,
      targetOwner: (key) => targetOwners.get(key),
      regionOf: (key) => regionOfDatabase(config.tenantDatabases.regions ?? {}, key),
      schemaVersion: knownMigrations().at(-1)!,
      invalidate: (id) => bus.publish({ kind: 'placement', orgId: id }),
      settleMs: config.placementCacheTtlMs,
      log,
      onStep: (m) => write(moveLine(m)),
    });
    const [latest] = await service.list({ orgId, limit: 1 });
    if (args.status) {
      write(latest ? moveLine(latest) : `organization ${orgId}: no placement move`);
      return 0;
    }
    if (args.abort) {
      if (!latest) {
        write(`organization ${orgId}: no placement move to abort`);
        return 1;
      }
      const ended = await service.abort(latest.id, 'cli');
      write(moveLine(ended));
      return 0;
    }
    if (!target) {
      write('saasready: --to pooled|schema|database:<key>|region:<name>, --abort or --status');
      return 1;
    }
    const started = await service.start(orgId, target, 'cli');
    const ended = await service.run(started.id).catch((err: unknown) => {
      // Another process runs this move (a server's background run, another command): it carries it on.
      if (err instanceof PlacementMoveError && err.code === 'MOVE_RUNNING') return undefined;
      throw err;
    });
    if (!ended) {
      write(`saasready: placement move ${started.id} is running elsewhere (--status follows it)`);
      return 3;
    }
    write(moveLine(ended));
    return ended.step === 'done' ? 0 : 2;
  } finally {
    await bus.close();
    await targetOwners.close();
    await runtime.close();
    await close();
  }
}

async function idBySlug(runtime: pg.Pool, slug: string): Promise<string | undefined> {
  const res = await runtime.query<{ id: string | null }>(
    'select app_priv_organization_id_by_slug($1) as id',
    [slug],
  );
  return res.rows[0]?.id ?? undefined;
}
