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
  | 'bad_signature'; // a checkpoint's signature does not verify

export interface ChainVerification {
  readonly valid: boolean;
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
}

export interface StoredCheckpoint {
  readonly statement: CheckpointStatement;
  readonly signature: Buffer;
}

const same = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/**
 * Recomputes a chain from its first entry: seq must run 1, 2, 3… with no gap, each `prev_hash` must be
 * the previous entry's hash, and each `hash` must be SHA-256(prev_hash ‖ canonical JSON). Then the
 * recorded head and every signed checkpoint are checked against the recomputed hashes (a checkpoint
 * beyond the last entry means entries were cut off). Reports the lowest broken seq.
 */
export async function verifyChain(args: {
  entries: AsyncIterable<StoredEntry> | Iterable<StoredEntry>;
  head?: { seq: number; hash: Buffer } | null;
  checkpoints?: readonly StoredCheckpoint[];
  verifier?: AuditVerifier;
}): Promise<ChainVerification> {
  const checkpoints = args.checkpoints ?? [];
  const wanted = new Set(checkpoints.map((c) => c.statement.seq));
  if (args.head) wanted.add(args.head.seq);
  const hashAt = new Map<number, Buffer>();
  let broken: { seq: number; reason: BreakReason; detail: string } | null = null;
  const breakAt = (seq: number, reason: BreakReason, detail: string) => {
    if (!broken || seq < broken.seq) broken = { seq, reason, detail };
  };

  let expected = 1;
  let prev: Buffer = GENESIS_HASH;
  let checked = 0;
  for await (const s of args.entries) {
    checked += 1;
    const seq = s.entry.seq;
    if (broken) continue; // keep counting; the first break is what matters
    if (seq !== expected) {
      if (seq > expected) breakAt(expected, 'missing_entry', `expected seq ${expected}, found ${seq}`);
      else breakAt(seq, 'unexpected_entry', `seq ${seq} appears after seq ${expected - 1}`);
      continue;
    }
    if (!same(s.prevHash, prev)) {
      // An intact successor (its own hash checks out) that no longer links back means the entry before it
      // was rewritten — with its hash recomputed, or it would have failed its own check.
      if (seq > 1 && same(entryHash(s.prevHash, s.entry), s.hash)) {
        breakAt(
          seq - 1,
          'hash_mismatch',
          `entry ${seq - 1} was rewritten: entry ${seq} links to another hash`,
        );
      } else {
        breakAt(seq, 'prev_hash_mismatch', `entry ${seq} does not link to entry ${seq - 1}`);
      }
      continue;
    }
    const computed = entryHash(prev, s.entry);
    if (!same(computed, s.hash)) {
      breakAt(seq, 'hash_mismatch', `entry ${seq} was changed after it was written`);
      continue;
    }
    if (wanted.has(seq)) hashAt.set(seq, s.hash);
    prev = s.hash;
    expected += 1;
  }
  const lastSeq = expected - 1;
  const complete = broken === null;

  if (complete && args.head === null && lastSeq > 0) {
    breakAt(
      lastSeq + 1,
      'head_missing',
      'entries exist but the chain head is gone: the end may have been cut off',
    );
  }
  if (args.head && complete) {
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
  let lastGood = 0;
  const firstBreak = () => (broken as { seq: number } | null)?.seq ?? Number.POSITIVE_INFINITY;
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
    if (seq >= firstBreak()) continue;
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
  }
  const b = broken as { seq: number; reason: BreakReason; detail: string } | null;
  return {
    valid: b === null,
    entriesChecked: checked,
    lastSeq,
    headHash: prev.toString('hex'),
    checkpointsChecked: checkpoints.length - unverifiable,
    checkpointsUnverifiable: unverifiable,
    firstBrokenSeq: b?.seq ?? null,
    reason: b?.reason ?? null,
    detail: b?.detail ?? null,
  };
}
