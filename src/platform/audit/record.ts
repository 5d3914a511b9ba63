import { sql } from 'kysely';
import type { TenantCtx } from '../tenancy/context.js';
import { currentContext } from '../tenancy/context.js';
import { scopeStorage, type TenantDb } from '../tenancy/tenant-database.js';
import { TenancyError } from '../tenancy/errors.js';
import { uuidv7 } from '../ids.js';
import { buildEntry, type AuditEntry, type AuditEventInput } from './chain.js';
import { canonicalJson } from './canonical-json.js';

export type { AuditEventInput } from './chain.js';

/**
 * Appends one event to the organization's audit chain, in the caller's transaction: the event is
 * committed with the change it describes, or not at all.
 *
 * One statement (`app_audit_append`, migration 0006): the chain head row is locked by an upsert
 * (`seq = seq + 1`), so concurrent writers in one organization queue behind each other until COMMIT and
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
  const org = ctx.tenantId;
  const request = currentContext();
  const sameRequest = request?.requestId === ctx.requestId;
  // Built with seq 0, then split around it: the database splices in the seq it assigns under the lock.
  const draft = buildEntry({
    organizationId: org,
    seq: 0,
    id: uuidv7(),
    occurredAt: new Date(),
    actor: ctx.actor,
    requestId: ctx.requestId,
    ip: sameRequest ? request.ip : null,
    userAgent: sameRequest ? request.userAgent : null,
    event,
  });
  const [prefix, suffix] = splitAtSeq(canonicalJson(draft));
  const res = await sql<{ seq: string; hash: Buffer }>`select seq, hash from app_audit_append(
      ${org}, ${prefix}, ${suffix}, ${draft.id}, ${draft.occurred_at}, ${draft.actor.type}, ${draft.actor.id},
      ${draft.action}, ${draft.target.type}, ${draft.target.id}, ${draft.ip}, ${draft.user_agent},
      ${draft.request_id}, ${jsonText(draft.changes)}::jsonb, ${jsonText(draft.metadata)}::jsonb)`.execute(
    db,
  );
  const row = res.rows[0];
  if (!row) throw new Error('audit append returned no row');
  return { ...draft, seq: Number(row.seq) };
}

const SEQ_MARK = ',"seq":0,';

/**
 * Splits the canonical JSON of an entry built with seq 0 around that seq. Keys are sorted, so the
 * top-level `seq` is the LAST occurrence (nested objects that could hold a "seq" key — changes,
 * metadata — sort before it; `target` and `user_agent` after it hold no such key).
 */
export function splitAtSeq(canonical: string): [string, string] {
  const at = canonical.lastIndexOf(SEQ_MARK);
  if (at < 0) throw new Error('canonical audit entry has no seq');
  return [canonical.slice(0, at + SEQ_MARK.length - 2), canonical.slice(at + SEQ_MARK.length - 1)];
}

/** A JSON value as the text of a `jsonb` parameter (null stays SQL NULL). */
export function jsonText(value: unknown): string | null {
  return value === null || value === undefined ? null : JSON.stringify(value);
}
