import type { AuditEventsTable } from '../db/schema.js';
import type { AuditEntry } from './chain.js';

/** A stored audit row (organization chain or platform chain). */
export type StoredAuditRow = Omit<AuditEventsTable, 'organization_id'> & { organization_id?: string | null };

/** A chain entry as stored: the hashed content plus its two hashes. */
export interface StoredEntry {
  readonly entry: AuditEntry;
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

/** Rebuilds the hashed entry from its row, field for field as `buildEntry` wrote it. */
export function storedEntry(row: StoredAuditRow): StoredEntry {
  return {
    entry: {
      v: 1,
      organization_id: row.organization_id ?? null,
      seq: Number(row.seq),
      id: row.id,
      occurred_at: row.occurred_at.toISOString(),
      actor: { type: row.actor_type, id: row.actor_id },
      action: row.action,
      target: { type: row.target_type, id: row.target_id },
      ip: row.ip,
      user_agent: row.user_agent,
      request_id: row.request_id,
      changes: row.changes ?? null,
      metadata: row.metadata ?? null,
    },
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** One line of a JSON Lines export: the entry plus `prev_hash` and `hash` in hex. */
export type ExportLine = AuditEntry & { prev_hash: string; hash: string };

export function exportLine(s: StoredEntry): ExportLine {
  return { ...s.entry, prev_hash: s.prevHash.toString('hex'), hash: s.hash.toString('hex') };
}

/** Parses an export line back (for offline verification). Throws on a malformed line. */
export function parseExportLine(text: string): StoredEntry {
  const o = JSON.parse(text) as Partial<ExportLine>;
  if (typeof o.prev_hash !== 'string' || typeof o.hash !== 'string' || typeof o.seq !== 'number') {
    throw new Error('not an audit export line');
  }
  // `personal` (the opened personal fields, beside the hashed entry) is not part of the entry.
  const { prev_hash, hash, personal: _personal, ...entry } = o as ExportLine & { personal?: unknown };
  return { entry, prevHash: Buffer.from(prev_hash, 'hex'), hash: Buffer.from(hash, 'hex') };
}
