import { sql } from 'kysely';
import type { TenantCtx } from '../tenancy/context.js';
import { scopeStorage, type TenantDb } from '../tenancy/tenant-database.js';
import { TenancyError } from '../tenancy/errors.js';
import type { AuditEntry, AuditEventInput } from './chain.js';
import { draftAudit } from './draft.js';

export type { AuditEventInput } from './chain.js';
export { jsonText, splitAtSeq } from './draft.js';

/**
 * Appends one event to the organization's audit chain, in the caller's transaction: the event is
 * committed with the change it describes, or not at all.
 *
 * One statement (`app_audit_append`, migration 0006): the chain head row is locked (`select … for
 * update`, created at seq 0 on first use) and written once, so concurrent writers in one organization queue behind each other until COMMIT and
 * the chain stays gapless and ordered; writers in different organizations never wait for each other. The
 * application builds the canonical JSON; the database splices in the seq and computes
 * `SHA-256(prev_hash ‖ canonical JSON)`, which `verifyChain` recomputes in the application.
 * Actor and request id come from `ctx`; IP and user agent from the request context.
 */
export async function recordAudit(db: TenantDb, ctx: TenantCtx, event: AuditEventInput): Promise<AuditEntry> {
  const scope = scopeStorage.getStore();
  if (!scope || scope.tenantId !== ctx.tenantId) {
    throw new TenancyError(
      'NO_TENANT_CONTEXT',
      'recordAudit must run inside the write scope of ctx.tenantId',
    );
  }
  const { entry, args } = draftAudit(ctx.tenantId, ctx.actor, ctx.requestId, event);
  const res = await sql<{ seq: string }>`select seq from app_audit_append(${ctx.tenantId}, ${args})`.execute(
    db,
  );
  const row = res.rows[0];
  if (!row) throw new Error('audit append returned no row');
  return { ...entry, seq: Number(row.seq) };
}
