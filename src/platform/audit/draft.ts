import { sql, type RawBuilder } from 'kysely';
import { currentContext, type Principal } from '../tenancy/context.js';
import { uuidv7 } from '../ids.js';
import { canonicalJson } from './canonical-json.js';
import { buildEntry, type AuditEntry, type AuditEventInput } from './chain.js';

/**
 * An entry ready to append: built with seq 0, its canonical JSON split around that seq (the database
 * splices in the seq it assigns under the chain lock and hashes the result), and the argument list of
 * the platform chain's append function (`app_platform_audit_append`).
 */
export interface AuditDraft {
  readonly entry: AuditEntry;
  /** `prefix, suffix, id, occurred_at, actor_type, actor_id, action, target_type, target_id, ip,
   *  user_agent, request_id, changes, metadata` as SQL parameters. */
  readonly args: RawBuilder<unknown>;
}

/** An entry built with seq 0 and its canonical JSON split around that seq (`prefix`, `suffix`). */
export interface DraftEntry {
  readonly entry: AuditEntry;
  readonly prefix: string;
  readonly suffix: string;
}

/** Drafts one event of `organizationId`'s chain (null: the platform chain). IP and UA come from the
 *  request context when `requestId` is the current request's. */
export function draftAudit(
  organizationId: string | null,
  actor: Principal,
  requestId: string,
  event: AuditEventInput,
): AuditDraft {
  const { entry, prefix, suffix } = draftEntry(organizationId, actor, requestId, event);
  const args = sql`${prefix}, ${suffix}, ${entry.id}, ${entry.occurred_at}, ${entry.actor.type},
    ${entry.actor.id}, ${entry.action}, ${entry.target.type}, ${entry.target.id}, ${entry.ip},
    ${entry.user_agent}, ${entry.request_id}, ${jsonText(entry.changes)}::jsonb,
    ${jsonText(entry.metadata)}::jsonb`;
  return { entry, args };
}

/** The entry of `draftAudit` and its canonical JSON pieces, without the SQL argument list. */
export function draftEntry(
  organizationId: string | null,
  actor: Principal,
  requestId: string,
  event: AuditEventInput,
): DraftEntry {
  const request = currentContext();
  const sameRequest = request?.requestId === requestId;
  const entry = buildEntry({
    organizationId,
    seq: 0,
    id: uuidv7(),
    occurredAt: new Date(),
    actor,
    requestId,
    ip: sameRequest ? request.ip : null,
    userAgent: sameRequest ? request.userAgent : null,
    event,
  });
  const [prefix, suffix] = splitAtSeq(canonicalJson(entry));
  const octets = Buffer.byteLength(prefix) + Buffer.byteLength(suffix);
  if (octets > MAX_AUDIT_ENTRY_OCTETS) {
    throw new TypeError(
      `audit event "${entry.action}" is too large: ${octets} bytes of canonical JSON, at most ${MAX_AUDIT_ENTRY_OCTETS} (keep changes and metadata small)`,
    );
  }
  return { entry, prefix, suffix };
}

/**
 * The largest event (its canonical JSON) the application records. `audit_pending` refuses larger ones
 * (migration 0015: a row the chain could not take would stop its organization's sealing), so the write
 * fails here with a clear error instead of at COMMIT.
 */
export const MAX_AUDIT_ENTRY_OCTETS = 256 * 1024;

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
