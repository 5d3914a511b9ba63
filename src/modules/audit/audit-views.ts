import type { AuditCheckpointsTable, AuditEventsTable } from '../../platform/db/schema.js';
import type { OpenedPersonal } from '../../platform/audit/personal-fields.js';
import { checkpointStatement, type CheckpointStatement } from '../../platform/audit/signing.js';
import { exportLine, storedEntry, type ExportLine } from '../../platform/audit/stored.js';

/** An audit event as the API shows it. */
export interface AuditEventView {
  seq: number;
  id: string;
  occurredAt: string;
  actor: { type: AuditEventsTable['actor_type']; id: string | null };
  action: string;
  target: { type: string; id: string | null };
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  changes: unknown;
  metadata: unknown;
  /** Personal fields sealed under the key of a user since erased: shown as null. */
  erased: string[];
  prevHash: string;
  hash: string;
}

/** The row as the API shows it, its personal fields opened (`opened`; as stored without it). */
export const toEventView = (r: AuditEventsTable, opened?: OpenedPersonal): AuditEventView => ({
  seq: Number(r.seq),
  id: r.id,
  occurredAt: r.occurred_at.toISOString(),
  actor: { type: r.actor_type, id: r.actor_id },
  action: r.action,
  target: { type: r.target_type, id: r.target_id },
  ip: opened ? opened.ip : r.ip,
  userAgent: opened ? opened.userAgent : r.user_agent,
  requestId: r.request_id,
  changes: r.changes ?? null,
  metadata: (opened ? opened.metadata : r.metadata) ?? null,
  erased: opened?.erased ?? [],
  prevHash: r.prev_hash.toString('hex'),
  hash: r.hash.toString('hex'),
});

/** An export line with, when the entry holds sealed personal fields, what they open to. */
export type PersonalExportLine = ExportLine & {
  personal?: { ip: string | null; user_agent: string | null; metadata: unknown; erased: string[] };
};

/**
 * One JSON Lines export line: the hashed entry exactly as chained (personal fields in their sealed form,
 * so the line verifies offline) and, beside it under `personal` (not hashed; `parseExportLine` drops
 * it), the opened values, or null with the field named in `erased` once their user was erased.
 */
export function jsonlLine(r: AuditEventsTable, opened?: OpenedPersonal): string {
  const line: PersonalExportLine = exportLine(storedEntry(r));
  if (opened?.sealed) {
    line.personal = {
      ip: opened.ip,
      user_agent: opened.userAgent,
      metadata: opened.metadata,
      erased: opened.erased,
    };
  }
  return `${JSON.stringify(line)}\n`;
}

/**
 * A signed checkpoint as the API shows it: the signed statement (version 2, since migration 0069, states
 * the audit retention in force when it was signed) and its base64url signature.
 */
export interface CheckpointView {
  id: string;
  statement: CheckpointStatement & { organization_id: string };
  signature: string;
}

export const toCheckpointView = (r: AuditCheckpointsTable): CheckpointView => ({
  id: r.id,
  statement: { ...checkpointStatement(r), organization_id: r.organization_id },
  signature: r.signature.toString('base64url'),
});

const CSV_COLUMNS = [
  'seq',
  'id',
  'occurred_at',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'ip',
  'user_agent',
  'request_id',
  'changes',
  'metadata',
  'prev_hash',
  'hash',
] as const;

/** A CSV cell: quoted when needed; a leading = + - @ (spreadsheet formula) is defused with a quote. */
function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'string' ? v : typeof v === 'number' ? String(v) : JSON.stringify(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export const CSV_HEADER = `${CSV_COLUMNS.join(',')}\r\n`;

/** One CSV record (RFC 4180, CRLF). */
export function csvRow(r: AuditEventsTable, opened?: OpenedPersonal): string {
  const values: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    seq: Number(r.seq),
    id: r.id,
    occurred_at: r.occurred_at.toISOString(),
    actor_type: r.actor_type,
    actor_id: r.actor_id,
    action: r.action,
    target_type: r.target_type,
    target_id: r.target_id,
    ip: opened ? opened.ip : r.ip,
    user_agent: opened ? opened.userAgent : r.user_agent,
    request_id: r.request_id,
    changes: r.changes,
    metadata: opened ? opened.metadata : r.metadata,
    prev_hash: r.prev_hash.toString('hex'),
    hash: r.hash.toString('hex'),
  };
  return `${CSV_COLUMNS.map((c) => cell(values[c])).join(',')}\r\n`;
}
