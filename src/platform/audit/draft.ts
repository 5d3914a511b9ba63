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

/** An entry built with seq 0, its canonical JSON split around that seq (`prefix`, `suffix`), and the
 *  canonical JSON of its changes and metadata (null when absent): the text of their `jsonb` parameters. */
export interface DraftEntry {
  readonly entry: AuditEntry;
  readonly prefix: string;
  readonly suffix: string;
  readonly changesJson: string | null;
  readonly metadataJson: string | null;
}

/** Drafts one event of `organizationId`'s chain (null: the platform chain). IP and UA come from the
 *  request context when `requestId` is the current request's. */
export function draftAudit(
  organizationId: string | null,
  actor: Principal,
  requestId: string,
  event: AuditEventInput,
  seal?: (entry: AuditEntry) => AuditEntry,
): AuditDraft {
  const { entry, prefix, suffix, changesJson, metadataJson } = draftEntry(
    organizationId,
    actor,
    requestId,
    event,
    seal,
  );
  const args = sql`${prefix}, ${suffix}, ${entry.id}, ${entry.occurred_at}, ${entry.actor.type},
    ${entry.actor.id}, ${entry.action}, ${entry.target.type}, ${entry.target.id}, ${entry.ip},
    ${entry.user_agent}, ${entry.request_id}, ${changesJson}::jsonb, ${metadataJson}::jsonb`;
  return { entry, args };
}

/** The entry of `draftAudit` and its canonical JSON pieces, without the SQL argument list. */
export function draftEntry(
  organizationId: string | null,
  actor: Principal,
  requestId: string,
  event: AuditEventInput,
  /** Seals the entry's personal fields (personal-fields.ts `sealEntry`) before it is written. */
  seal?: (entry: AuditEntry) => AuditEntry,
): DraftEntry {
  const request = currentContext();
  const sameRequest = request?.requestId === requestId;
  const built = buildEntry({
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
  const entry = seal ? seal(built) : built;
  const changesJson = entry.changes === null ? null : canonicalJson(entry.changes);
  const metadataJson = entry.metadata === null ? null : canonicalJson(entry.metadata);
  const [prefix, suffix] = canonicalAroundSeq(entry, changesJson, metadataJson);
  // A UTF-16 code unit is at most 3 octets of UTF-8: most entries need no count of their octets.
  const units = prefix.length + suffix.length;
  const octets =
    units * 3 <= MAX_AUDIT_ENTRY_OCTETS ? units : Buffer.byteLength(prefix) + Buffer.byteLength(suffix);
  if (octets > MAX_AUDIT_ENTRY_OCTETS) {
    throw new TypeError(
      `audit event "${entry.action}" is too large: ${octets} bytes of canonical JSON, at most ${MAX_AUDIT_ENTRY_OCTETS} (keep changes and metadata small)`,
    );
  }
  return { entry, prefix, suffix, changesJson, metadataJson };
}

const str = (s: string | null): string => (s === null ? 'null' : JSON.stringify(s));

/**
 * `canonicalJson(entry)` split around its seq, written directly: an entry's keys and their order are
 * fixed (sorted: action, actor {id, type}, changes, id, ip, metadata, occurred_at, organization_id,
 * request_id, seq, target {id, type}, user_agent, v), and only changes and metadata need the general
 * canonical form (given, already written). A test holds it equal to `splitAtSeq(canonicalJson(entry))`.
 */
export function canonicalAroundSeq(
  entry: AuditEntry,
  changesJson: string | null,
  metadataJson: string | null,
): [string, string] {
  const prefix = `{"action":${str(entry.action)},"actor":{"id":${str(entry.actor.id)},"type":${str(entry.actor.type)}},"changes":${changesJson ?? 'null'},"id":${str(entry.id)},"ip":${str(entry.ip)},"metadata":${metadataJson ?? 'null'},"occurred_at":${str(entry.occurred_at)},"organization_id":${str(entry.organization_id)},"request_id":${str(entry.request_id)},"seq":`;
  const suffix = `,"target":{"id":${str(entry.target.id)},"type":${str(entry.target.type)}},"user_agent":${str(entry.user_agent)},"v":${entry.v}}`;
  return [prefix, suffix];
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
