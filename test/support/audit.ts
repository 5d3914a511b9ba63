import { vi } from 'vitest';
import type pg from 'pg';
import { onCitus } from './citus.js';
import type { WithTenant } from '../../src/platform/tenancy/with-tenant.js';
import type { TenantCtx } from '../../src/platform/tenancy/context.js';
import { recordAudit } from '../../src/platform/audit/record.js';
import { actionMatch } from '../../src/modules/audit/audit.repository.js';
import { sealPending } from '../../src/platform/audit/seal.js';
import { openPersonalFields, personalDataKeysOf } from '../../src/platform/audit/personal-fields.js';

/**
 * Seals the organization's committed audit events into its chain now (what the background sealer does
 * about a second after a commit): tests that read `audit_events` right after a write call this first.
 */
export async function sealAudit(withTenant: WithTenant, orgId: string): Promise<number> {
  return sealPending(withTenant, orgId);
}

/** An audit event as tests assert on it. */
export interface AuditRow {
  seq: number;
  action: string;
  actor: { type: string; id: string | null };
  target: { type: string; id: string | null };
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
  changes: unknown;
  metadata: unknown;
}

/**
 * The organization's audit events, oldest first (read through the tenant scope, as the runtime role,
 * after sealing what was committed), optionally only those whose action is `action` or starts with
 * `action` + '.' when it ends with `.*`.
 */
export async function auditEvents(
  withTenant: WithTenant,
  orgId: string,
  action?: string,
): Promise<AuditRow[]> {
  await sealAudit(withTenant, orgId);
  const { rows, opened } = await withTenant(
    orgId,
    async (db) => {
      let q = db.selectFrom('audit_events').selectAll().where('organization_id', '=', orgId);
      if (action) {
        const a = actionMatch(action);
        q = q.where('action', a.op, a.value);
      }
      const rows = await q.orderBy('seq').execute();
      // Personal fields as readers see them (opened with their person's key, when the composition
      // registered a key store for this database).
      return { rows, opened: await openPersonalFields(personalDataKeysOf(db), db, rows) };
    },
    { mode: 'read' },
  );
  return rows.map((r, i) => ({
    seq: Number(r.seq),
    action: r.action,
    actor: { type: r.actor_type, id: r.actor_id },
    target: { type: r.target_type, id: r.target_id },
    requestId: r.request_id,
    ip: opened[i]!.ip,
    userAgent: opened[i]!.userAgent,
    changes: r.changes ?? null,
    metadata: opened[i]!.metadata,
  }));
}

/** Just the action names of the organization's audit events, oldest first. */
export async function auditActions(withTenant: WithTenant, orgId: string): Promise<string[]> {
  return (await auditEvents(withTenant, orgId)).map((e) => e.action);
}

/**
 * Runs `fn` with the clock (`Date` only, Vitest's fake timers) moved back `days` days, real again after:
 * what it records is dated then.
 */
export async function backdated<T>(days: number, fn: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(Date.now() - days * 86_400_000);
  try {
    return await fn();
  } finally {
    vi.useRealTimers();
  }
}

/** Records `n` audit events (`project.created` of projects p0, p1 …) in `ctx`'s organization, as `ctx`. */
export async function recordAuditEvents(withTenant: WithTenant, ctx: TenantCtx, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await withTenant(ctx.tenantId, (t) =>
      recordAudit(t, ctx, { action: 'project.created', target: { type: 'project', id: `p${i}` } }),
    );
  }
}

/** The context of a system actor (`test`) in organization `org`, as these tests act. */
export function systemCtx(org: string): TenantCtx {
  return { tenantId: org, actor: { kind: 'system', name: 'test' }, requestId: 'r' };
}

/**
 * Records `n` audit events in organization `org` dated `daysAgo` days back, seals them into its chain
 * then, and, when `checkpoint`, has `audit` take a signed checkpoint then too.
 */
export async function recordBackdatedAuditEvents(
  withTenant: WithTenant,
  audit: { checkpoint(ctx: TenantCtx): Promise<unknown> },
  org: string,
  n: number,
  daysAgo: number,
  checkpoint = false,
): Promise<void> {
  await backdated(daysAgo, async () => {
    await recordAuditEvents(withTenant, systemCtx(org), n);
    await sealPending(withTenant, org);
    if (checkpoint) await audit.checkpoint(systemCtx(org));
  });
}

/** Tampering as the owner role: it can turn every guard off (trigger, forced RLS), and is still caught. */
export async function tamperAuditAsOwner(
  owner: pg.Client,
  sql: string,
  params: unknown[] = [],
): Promise<void> {
  // On Citus the guard trigger is not there (docs/citus.md): the owner's rewrite needs no lifting of it.
  const guarded = !(await onCitus());
  await owner.query('begin');
  try {
    if (guarded) await owner.query('alter table audit_events disable trigger audit_events_append_only');
    await owner.query('alter table audit_events no force row level security');
    await owner.query(sql, params);
    await owner.query('alter table audit_events force row level security');
    if (guarded) await owner.query('alter table audit_events enable trigger audit_events_append_only');
    await owner.query('commit');
  } catch (err) {
    await owner.query('rollback');
    throw err;
  }
}
