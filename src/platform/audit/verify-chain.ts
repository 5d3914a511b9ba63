import { timingSafeEqual } from 'node:crypto';
import { entryHash, GENESIS_HASH } from './chain.js';
import type { AuditVerifier, CheckpointStatement } from './signing.js';
import type { StoredEntry } from './stored.js';

/** Why a chain is broken at `seq`. */
export type BreakReason =
  | 'missing_entry' // the entry with this seq is gone (deleted, or rows reordered)
  | 'unexpected_entry' // an entry appears out of order or twice
  | 'prev_hash_mismatch' // the entry does not link to the entry before it
  | 'hash_mismatch' // the entry's content was changed
  | 'truncated' // entries after this point are gone (the head or a checkpoint says there were more)
  | 'head_mismatch' // the chain head records another hash for this seq, or entries beyond it exist
  | 'head_missing' // entries exist but the chain head row is gone (the end may have been cut off)
  | 'checkpoint_mismatch' // a signed checkpoint names another hash for this seq
  | 'bad_signature' // a checkpoint's signature does not verify
  | 'cut_before_retention'; // the chain starts after a checkpoint too recent for a retention purge to cut at

export interface ChainVerification {
  readonly valid: boolean;
  /**
   * The seq of the signed checkpoint the kept entries start from, when retention purged the entries up to
   * it (the entry after it links to its signed hash); null when the chain starts at its genesis. Always a
   * checkpoint this verifier checked: a chain starting anywhere else is not valid, and so is one starting
   * after a checkpoint too recent for the purge to have cut there (`cut_before_retention`).
   */
  readonly anchorSeq: number | null;
  readonly entriesChecked: number;
  readonly lastSeq: number;
  /** Hex hash of the last entry (the genesis hash for an empty chain). */
  readonly headHash: string;
  readonly checkpointsChecked: number;
  /** Checkpoints signed with a key this verifier does not know (e.g. one rotated out): not checked. */
  readonly checkpointsUnverifiable: number;
  /** The first seq at which the chain cannot be trusted, or null. */
  readonly firstBrokenSeq: number | null;
  readonly reason: BreakReason | null;
  readonly detail: string | null;
  /**
   * Every break found, lowest seq first, at most `MAX_REPORTED_BREAKS` (the first is `firstBrokenSeq`):
   * the check goes on past a break, each entry against its own hash and its link to the stored hash
   * before it, so a later change is reported even when an earlier entry is broken.
   */
  readonly breaks: ChainBreak[];
  /** More breaks were found than `breaks` lists. */
  readonly breaksTruncated: boolean;
}

export interface ChainBreak {
  readonly seq: number;
  readonly reason: BreakReason;
  readonly detail: string;
}

/** How many breaks a verification lists. */
export const MAX_REPORTED_BREAKS = 100;

export interface StoredCheckpoint {
  readonly statement: CheckpointStatement;
  readonly signature: Buffer;
}

/** The shortest audit retention a plan can set (`plans.audit_retention_days` is 1 to 36,500 days). */
export const MIN_AUDIT_RETENTION_DAYS = 1;

/**
 * How far ahead of the verifier's clock a purge's instant may be: the purge refuses an instant more than
 * 5 minutes past the database's clock (migration 0031).
 */
export const PURGE_CLOCK_ALLOWANCE_MS = 5 * 60_000;

const DAY_MS = 86_400_000;

/** The shortest of stated retentions (null: forever, longer than any); null when all are forever. */
const minRetention = (days: readonly (number | null)[]): number | null =>
  days.reduce<number | null>((m, d) => (d === null ? m : m === null ? d : Math.min(m, d)), null);

const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/**
 * Recomputes a chain from its first entry: seq must run 1, 2, 3… with no gap, each `prev_hash` must be
 * the previous entry's stored hash, and each `hash` must be SHA-256(prev_hash ‖ canonical JSON). Then the
 * recorded head and every signed checkpoint are checked against the stored hashes (a checkpoint beyond
 * the last entry means entries were cut off). The check does not stop at a break: each entry is still
 * checked on its own (its hash, its link to the entry before it), so a broken entry never hides a later
 * one. Reports the lowest broken seq, and every break (`breaks`, bounded).
 *
 * A chain whose retention purged its oldest entries starts at seq k > 1: it is accepted only when a signed
 * checkpoint this verifier can check sits at k - 1, its signed hash entry k's `prev_hash` (the purge only
 * ever cuts at a checkpoint, whole segments at a time, migration 0036). A later checkpoint authenticates
 * the entries up to it, but says nothing about where the chain may start: accepting it would accept a
 * chain or an export cut at any entry. A checkpoint older than k - 1 is a break too: the retention purge
 * deletes the checkpoints below its cut with the entries, so one left behind means entries went another
 * way. With no entry left at all, the oldest verifiable checkpoint is the anchor and the head must be it.
 *
 * And the anchor must be old enough for a purge to have cut there: the purge cuts only at a checkpoint
 * signed before its cutoff (migrations 0068, 0069), so a chain whose anchor was signed less than R days
 * before `now` (plus the purge's 5 minutes of clock allowance) was cut by something else:
 * `cut_before_retention`. R is the shortest audit retention stated by the signed checkpoints (version 2
 * statements, migration 0069) at or after the anchor that this verifier checked (a statement of "forever"
 * counts as no bound below it): signed, so the database owner cannot lower it, and the shortest so a
 * retention raised after a purge (stated by later checkpoints) does not flag it, the anchor itself or a
 * checkpoint between it and the purge stating the retention in force then. When none of them states a
 * retention (checkpoints signed before 0069: the legacy window), R is `retentionDays`: what the server
 * recorded for the organization's latest cut (an unsigned column), else the shortest any plan can set
 * (1 day).
 */
export async function verifyChain(args: {
  entries: AsyncIterable<StoredEntry> | Iterable<StoredEntry>;
  head?: { seq: number; hash: Buffer } | null;
  checkpoints?: readonly StoredCheckpoint[];
  verifier?: AuditVerifier;
  /**
   * The legacy bound: the shortest retention, in days, the purge could have applied at the anchor, used
   * only when no checked checkpoint at or after it states one (default 1).
   */
  retentionDays?: number;
  /** The verification's instant (default: now). */
  now?: Date;
}): Promise<ChainVerification> {
  const checkpoints = args.checkpoints ?? [];
  const legacyDays = Math.max(MIN_AUDIT_RETENTION_DAYS, args.retentionDays ?? MIN_AUDIT_RETENTION_DAYS);
  const nowMs = (args.now ?? new Date()).getTime();
  // The anchor's checkpoint once checked, and the retentions (days; null: forever) stated by the checked
  // checkpoints at or after it (see above).
  let anchorCp: StoredCheckpoint | null = null;
  const stated: (number | null)[] = [];
  const wanted = new Set(checkpoints.map((c) => c.statement.seq));
  if (args.head) wanted.add(args.head.seq);
  const hashAt = new Map<number, Buffer>();
  // Breaks by seq (the first reason found at a seq is kept); pruned to the lowest ones as it grows.
  let found = new Map<number, ChainBreak>();
  let truncated = false;
  const breakAt = (seq: number, reason: BreakReason, detail: string) => {
    if (found.has(seq)) return;
    found.set(seq, { seq, reason, detail });
    if (found.size > 2 * MAX_REPORTED_BREAKS) {
      found = new Map([...found.entries()].sort((x, y) => x[0] - y[0]).slice(0, MAX_REPORTED_BREAKS));
      truncated = true;
    }
  };

  let expected = 1;
  // The stored hash of the entry before `expected` (what its successor must link to).
  let prev: Buffer = GENESIS_HASH;
  let checked = 0;
  // The first kept seq: > 1 when retention purged the entries before a checkpoint (anchored below).
  let start = 1;
  const mayBePurged = checkpoints.length > 0 && args.verifier !== undefined;
  for await (const s of args.entries) {
    checked += 1;
    const seq = s.entry.seq;
    if (checked === 1 && seq > 1 && mayBePurged) {
      start = seq;
      expected = seq;
      prev = s.prevHash; // trusted only once a signed checkpoint anchors it (below)
      if (wanted.has(seq - 1)) hashAt.set(seq - 1, s.prevHash);
    }
    if (seq < expected) {
      breakAt(seq, 'unexpected_entry', `seq ${seq} appears after seq ${expected - 1}`);
      continue;
    }
    // After a gap there is no entry to link to: the gap is the break.
    const linked = seq === expected;
    if (!linked) breakAt(expected, 'missing_entry', `expected seq ${expected}, found ${seq}`);
    const intact = same(entryHash(s.prevHash, s.entry), s.hash);
    if (linked && !same(s.prevHash, prev)) {
      // An intact successor (its own hash checks out) that no longer links back means the entry before it
      // was rewritten — with its hash recomputed, or it would have failed its own check.
      if (seq > 1 && intact) {
        breakAt(
          seq - 1,
          'hash_mismatch',
          `entry ${seq - 1} was rewritten: entry ${seq} links to another hash`,
        );
      } else {
        breakAt(seq, 'prev_hash_mismatch', `entry ${seq} does not link to entry ${seq - 1}`);
      }
    }
    if (!intact) breakAt(seq, 'hash_mismatch', `entry ${seq} was changed after it was written`);
    if (wanted.has(seq)) hashAt.set(seq, s.hash);
    prev = s.hash;
    expected = seq + 1;
  }
  if (checked === 0 && mayBePurged) {
    // Every entry purged: the oldest checkpoint this verifier can check is where the chain stands.
    const oldest = [...checkpoints]
      .sort((x, y) => x.statement.seq - y.statement.seq)
      .find(
        (c) => args.verifier!.knows(c.statement.key_id) && args.verifier!.verify(c.statement, c.signature),
      );
    if (oldest && oldest.statement.seq > 0) {
      start = oldest.statement.seq + 1;
      expected = start;
      prev = Buffer.from(oldest.statement.head_hash, 'hex');
      hashAt.set(oldest.statement.seq, prev);
    }
  }
  const lastSeq = expected - 1;

  if (args.head === null && lastSeq > 0) {
    breakAt(
      lastSeq + 1,
      'head_missing',
      'entries exist but the chain head is gone: the end may have been cut off',
    );
  }
  if (args.head) {
    if (args.head.seq > lastSeq) {
      breakAt(
        lastSeq + 1,
        'truncated',
        `the chain head is at seq ${args.head.seq}, entries end at ${lastSeq}`,
      );
    } else if (args.head.seq < lastSeq) {
      breakAt(
        args.head.seq + 1,
        'head_mismatch',
        `entries go on after the chain head (seq ${args.head.seq})`,
      );
    } else if (lastSeq > 0 && !same(args.head.hash, prev)) {
      breakAt(lastSeq, 'head_mismatch', `the chain head records another hash for seq ${lastSeq}`);
    }
  }
  // Checkpoints in seq order: a mismatch says some entry after the last checkpoint that held was rewritten
  // (a consistent rewrite cannot be pinned to one entry), so the first untrusted seq is right after it.
  let unverifiable = 0;
  let lastGood = start - 1;
  let anchored = start === 1;
  for (const cp of [...checkpoints].sort((x, y) => x.statement.seq - y.statement.seq)) {
    const seq = cp.statement.seq;
    if (!args.verifier?.knows(cp.statement.key_id)) {
      unverifiable += 1;
      continue;
    }
    if (!args.verifier.verify(cp.statement, cp.signature)) {
      breakAt(seq, 'bad_signature', `the checkpoint at seq ${seq} has an invalid signature`);
      continue;
    }
    if (seq < start - 1) {
      breakAt(
        1,
        'missing_entry',
        `a signed checkpoint covers seq ${seq}, but entries start at ${start}: they were not purged at a checkpoint`,
      );
      continue;
    }
    if (seq > lastSeq) {
      breakAt(lastSeq + 1, 'truncated', `a signed checkpoint covers seq ${seq}, entries end at ${lastSeq}`);
      continue;
    }
    const h = hashAt.get(seq);
    if (!h || h.toString('hex') !== cp.statement.head_hash) {
      breakAt(
        lastGood + 1,
        'checkpoint_mismatch',
        `the signed checkpoint for seq ${seq} names another hash: an entry from seq ${lastGood + 1} to ${seq} was rewritten`,
      );
      continue;
    }
    lastGood = seq;
    if (start > 1 && seq >= start - 1 && cp.statement.v === 2) stated.push(cp.statement.retention_days);
    if (seq === start - 1 && start > 1) anchorCp ??= cp;
  }
  let freshAnchor: { at: string; bound: string } | null = null;
  if (!anchored && anchorCp) {
    // A purge cuts only at a checkpoint signed before its cutoff (see above).
    const days = stated.length === 0 ? legacyDays : minRetention(stated);
    const at = anchorCp.statement.signed_at;
    if (days !== null && Date.parse(at) < nowMs + PURGE_CLOCK_ALLOWANCE_MS - days * DAY_MS) anchored = true;
    else
      freshAnchor = {
        at,
        bound:
          days === null
            ? 'but the signed checkpoints from there on state that the audit log is kept forever'
            : `less than the audit retention (${days} ${days === 1 ? 'day' : 'days'}${stated.length === 0 ? '' : ', as signed'}) ago`,
      };
  }
  if (!anchored && freshAnchor) {
    breakAt(
      1,
      'cut_before_retention',
      `entries up to seq ${start - 1} are gone, but the signed checkpoint there was signed at ${freshAnchor.at}, ${freshAnchor.bound}: no retention purge could have cut there`,
    );
  } else if (!anchored) {
    breakAt(
      1,
      'missing_entry',
      `entries before seq ${start} are gone and no signed checkpoint this verifier can check is at seq ${start - 1}: they were not purged at a checkpoint`,
    );
  }
  const breaks = [...found.values()].sort((x, y) => x.seq - y.seq);
  const b = breaks[0] ?? null;
  return {
    valid: b === null,
    anchorSeq: start > 1 ? start - 1 : null,
    entriesChecked: checked,
    lastSeq,
    headHash: prev.toString('hex'),
    checkpointsChecked: checkpoints.length - unverifiable,
    checkpointsUnverifiable: unverifiable,
    firstBrokenSeq: b?.seq ?? null,
    reason: b?.reason ?? null,
    detail: b?.detail ?? null,
    breaks: breaks.slice(0, MAX_REPORTED_BREAKS),
    breaksTruncated: truncated || breaks.length > MAX_REPORTED_BREAKS,
  };
}
