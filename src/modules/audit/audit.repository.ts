import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { AuditCheckpointsTable, AuditEventsTable } from '../../platform/db/schema.js';

/** Filters of the audit log list and export (all optional, combined with AND). */
export interface AuditFilter {
  readonly actorId?: string;
  readonly actorType?: AuditEventsTable['actor_type'];
  /** Exact action, or a prefix ending in `.*` (`member.*`). */
  readonly action?: string;
  readonly targetType?: string;
  readonly targetId?: string;
  readonly from?: Date;
  readonly to?: Date;
}

/** The condition of an action filter: exact, or `like` for a prefix written `member.*`. */
export function actionMatch(action: string): { op: '=' | 'like'; value: string } {
  return action.endsWith('.*')
    ? { op: 'like', value: `${action.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%` }
    : { op: '=', value: action };
}

/**
 * Events newest first (`order: 'desc'`, the list) or oldest first (`'asc'`, export and verification),
 * strictly after/before the `cursor` seq.
 */
export async function listEvents(
  db: TenantDb,
  org: string,
  f: AuditFilter,
  page: { cursor?: number; limit: number; order: 'asc' | 'desc' },
): Promise<AuditEventsTable[]> {
  let q = db.selectFrom('audit_events').selectAll().where('organization_id', '=', org);
  if (f.actorId !== undefined) q = q.where('actor_id', '=', f.actorId);
  if (f.actorType !== undefined) q = q.where('actor_type', '=', f.actorType);
  if (f.action !== undefined) {
    const a = actionMatch(f.action);
    q = q.where('action', a.op, a.value);
  }
  if (f.targetType !== undefined) q = q.where('target_type', '=', f.targetType);
  if (f.targetId !== undefined) q = q.where('target_id', '=', f.targetId);
  if (f.from !== undefined) q = q.where('occurred_at', '>=', f.from);
  if (f.to !== undefined) q = q.where('occurred_at', '<', f.to);
  if (page.cursor !== undefined) {
    q = q.where('seq', page.order === 'desc' ? '<' : '>', String(page.cursor));
  }
  return q.orderBy('seq', page.order).limit(page.limit).execute();
}

/** The chain head (last seq and hash), or undefined before the first event. */
export async function chainHead(
  db: TenantDb,
  org: string,
): Promise<{ seq: number; hash: Buffer } | undefined> {
  const row = await db
    .selectFrom('audit_chain_heads')
    .select(['seq', 'hash'])
    .where('organization_id', '=', org)
    .executeTakeFirst();
  return row ? { seq: Number(row.seq), hash: row.hash } : undefined;
}

/**
 * The audit retention (days) the retention purge applied at the organization's latest cut (migration
 * 0068), or null: no cut recorded.
 */
export async function retentionCutDays(db: TenantDb, org: string): Promise<number | null> {
  const row = await db
    .selectFrom('organizations')
    .select('audit_retention_cut_days')
    .where('id', '=', org)
    .executeTakeFirst();
  return row?.audit_retention_cut_days ?? null;
}

/**
 * The audit retention (days) the retention purge applies to the organization now, its grace included
 * (`app_audit_retention_in_force`, migration 0069: the purge computes it the same way); null: kept
 * forever. A checkpoint signs it.
 */
export async function retentionInForce(db: TenantDb, org: string): Promise<number | null> {
  const row = await db
    .selectFrom('organizations as o')
    .innerJoin('plans as p', 'p.key', 'o.plan')
    .select(
      sql<
        number | null
      >`app_audit_retention_in_force(p.audit_retention_days, o.audit_retention_seen, o.audit_retention_days_seen,
        o.audit_retention_grace_until, o.audit_retention_grace_days, now())`.as('days'),
    )
    .where('o.id', '=', org)
    .executeTakeFirst();
  return row?.days ?? null;
}

/** Every checkpoint of the organization, oldest first. */
export async function listCheckpoints(db: TenantDb, org: string): Promise<AuditCheckpointsTable[]> {
  return db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('organization_id', '=', org)
    .orderBy('seq')
    .orderBy('id')
    .execute();
}

export async function insertCheckpoint(db: TenantDb, row: AuditCheckpointsTable): Promise<void> {
  await db.insertInto('audit_checkpoints').values(row).execute();
}

/** One page of checkpoints in id (creation) order, strictly after `after`. */
export async function pageCheckpoints(
  db: TenantDb,
  org: string,
  after: string | undefined,
  limit: number,
): Promise<AuditCheckpointsTable[]> {
  let q = db.selectFrom('audit_checkpoints').selectAll().where('organization_id', '=', org);
  if (after) q = q.where('id', '>', after);
  return q.orderBy('id').limit(limit).execute();
}

/** The latest checkpoint signed with `keyId`. */
export async function latestCheckpoint(
  db: TenantDb,
  org: string,
  keyId: string,
): Promise<AuditCheckpointsTable | undefined> {
  return db
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('organization_id', '=', org)
    .where('key_id', '=', keyId)
    .orderBy('seq', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}
