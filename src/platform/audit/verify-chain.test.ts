import { describe, expect, it } from 'vitest';
import { testJwtKey } from '../../modules/tokens/tokens.test-support.js';
import { buildEntry, entryHash, GENESIS_HASH } from './chain.js';
import { createAuditSigner, createAuditVerifier, type CheckpointStatement } from './signing.js';
import type { StoredEntry } from './stored.js';
import {
  MAX_REPORTED_BREAKS,
  PURGE_CLOCK_ALLOWANCE_MS,
  verifyChain,
  type StoredCheckpoint,
} from './verify-chain.js';

const ORG = '0190aaaa-0000-7000-8000-000000000001';

function chain(n: number): StoredEntry[] {
  const out: StoredEntry[] = [];
  let prev: Buffer = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const entry = buildEntry({
      organizationId: ORG,
      seq,
      id: `id-${seq}`,
      occurredAt: new Date(1_700_000_000_000 + seq),
      actor: { kind: 'system', name: 'test' },
      requestId: null,
      event: { action: 'project.created', target: { type: 'project', id: `p${seq}` }, metadata: { seq } },
    });
    const hash = entryHash(prev, entry);
    out.push({ entry, prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

describe('verifyChain', () => {
  it('blames a rewritten entry whose own hash was recomputed, not its successor', async () => {
    const c = chain(5);
    const forged = { ...c[2]!.entry, metadata: { seq: 'forged' } };
    c[2] = { entry: forged, prevHash: c[2]!.prevHash, hash: entryHash(c[2]!.prevHash, forged) };
    expect(await verifyChain({ entries: c })).toMatchObject({
      valid: false,
      firstBrokenSeq: 3,
      reason: 'hash_mismatch',
    });
  });

  it('a missing head with entries, or a head behind the entries, is a break', async () => {
    const c = chain(3);
    expect(await verifyChain({ entries: c, head: null })).toMatchObject({
      firstBrokenSeq: 4,
      reason: 'head_missing',
    });
    expect(await verifyChain({ entries: c, head: { seq: 1, hash: c[0]!.hash } })).toMatchObject({
      firstBrokenSeq: 2,
      reason: 'head_mismatch',
    });
    expect(await verifyChain({ entries: c, head: { seq: 3, hash: c[2]!.hash } })).toMatchObject({
      valid: true,
    });
    expect(await verifyChain({ entries: [], head: null })).toMatchObject({ valid: true, lastSeq: 0 });
  });

  it('checkpoints: a forged signature breaks, an unknown key is reported but not a break', async () => {
    const c = chain(3);
    const signer = createAuditSigner(await testJwtKey());
    const other = createAuditSigner(await testJwtKey());
    const statement = (keyId: string): CheckpointStatement => ({
      v: 1,
      organization_id: ORG,
      seq: 2,
      head_hash: c[1]!.hash.toString('hex'),
      signed_at: new Date(0).toISOString(),
      key_id: keyId,
    });
    const verifier = createAuditVerifier([signer.publicKey]);
    const good = { statement: statement(signer.keyId), signature: signer.sign(statement(signer.keyId)) };
    const unknown = { statement: statement(other.keyId), signature: other.sign(statement(other.keyId)) };
    const forged = { statement: statement(signer.keyId), signature: other.sign(statement(signer.keyId)) };
    expect(await verifyChain({ entries: c, checkpoints: [good, unknown], verifier })).toMatchObject({
      valid: true,
      checkpointsChecked: 1,
      checkpointsUnverifiable: 1,
    });
    expect(await verifyChain({ entries: c, checkpoints: [forged], verifier })).toMatchObject({
      valid: false,
      firstBrokenSeq: 2,
      reason: 'bad_signature',
    });
  });

  it('a chain purged up to a signed checkpoint starts from it; anything else missing at its start is a break', async () => {
    const c = chain(8);
    const signer = createAuditSigner(await testJwtKey());
    const verifier = createAuditVerifier([signer.publicKey]);
    const at = (seq: number, s = signer) => {
      const statement: CheckpointStatement = {
        v: 1,
        organization_id: ORG,
        seq,
        head_hash: c[seq - 1]!.hash.toString('hex'),
        signed_at: new Date(0).toISOString(),
        key_id: s.keyId,
      };
      return { statement, signature: s.sign(statement) };
    };
    const head = { seq: 8, hash: c[7]!.hash };
    // Purged through the checkpoint at 4 (kept): valid from it.
    expect(
      await verifyChain({ entries: c.slice(4), head, checkpoints: [at(4), at(6)], verifier }),
    ).toMatchObject({ valid: true, anchorSeq: 4, entriesChecked: 4, lastSeq: 8, checkpointsChecked: 2 });
    // Cut where no checkpoint is (entries 1-2 gone, the checkpoints below 2 with them): a later checkpoint
    // authenticates 3-4, but nothing signed says the chain may start at 3, so the cut is not retention's
    // (an export or a table truncated at any entry would pass otherwise, reported as starting from a
    // "signed checkpoint" at 2 that does not exist).
    expect(await verifyChain({ entries: c.slice(2), head, checkpoints: [at(4)], verifier })).toMatchObject({
      valid: false,
      reason: 'missing_entry',
      firstBrokenSeq: 1,
    });
    expect(
      await verifyChain({ entries: c.slice(5), head, checkpoints: [at(4), at(6)], verifier }),
    ).toMatchObject({ valid: false, reason: 'missing_entry', firstBrokenSeq: 1 });
    // A consistent rewrite of kept entries up to the anchoring checkpoint is caught by it: no anchor left.
    const forged = c.slice(2, 4);
    const entry = { ...forged[0]!.entry, metadata: { seq: 'forged' } };
    forged[0] = { entry, prevHash: forged[0]!.prevHash, hash: entryHash(forged[0]!.prevHash, entry) };
    const relinked = { ...forged[1]!, prevHash: forged[0].hash };
    forged[1] = { ...relinked, hash: entryHash(relinked.prevHash, relinked.entry) };
    expect(
      await verifyChain({
        entries: forged,
        head: { seq: 4, hash: forged[1].hash },
        checkpoints: [at(4)],
        verifier,
      }),
    ).toMatchObject({ valid: false, firstBrokenSeq: 1, reason: 'missing_entry' });
    // Entries gone below a checkpoint still there: not a retention cut.
    expect(
      await verifyChain({ entries: c.slice(4), head, checkpoints: [at(2), at(4)], verifier }),
    ).toMatchObject({ valid: false, reason: 'missing_entry', firstBrokenSeq: 1 });
    // No checkpoint, no verifier, or only a key the verifier does not know: nothing anchors the start.
    expect(await verifyChain({ entries: c.slice(4), head, checkpoints: [], verifier })).toMatchObject({
      valid: false,
      reason: 'missing_entry',
      firstBrokenSeq: 1,
    });
    expect(await verifyChain({ entries: c.slice(4), head, checkpoints: [at(4)] })).toMatchObject({
      valid: false,
      firstBrokenSeq: 1,
    });
    const other = createAuditSigner(await testJwtKey());
    expect(
      await verifyChain({ entries: c.slice(4), head, checkpoints: [at(4, other)], verifier }),
    ).toMatchObject({ valid: false, reason: 'missing_entry', checkpointsUnverifiable: 1 });
    // A checkpoint whose hash is not the first kept entry's prev_hash does not anchor it.
    expect(await verifyChain({ entries: c.slice(5), head, checkpoints: [at(4)], verifier })).toMatchObject({
      valid: false,
      firstBrokenSeq: 1,
    });
    // Everything purged up to the head's checkpoint: valid, at the head.
    expect(await verifyChain({ entries: [], head, checkpoints: [at(8)], verifier })).toMatchObject({
      valid: true,
      anchorSeq: 8,
      lastSeq: 8,
      entriesChecked: 0,
    });
    expect(await verifyChain({ entries: [], head, checkpoints: [at(6)], verifier })).toMatchObject({
      valid: false,
      reason: 'truncated',
    });
  });

  it('a chain cut at a checkpoint younger than the retention is not a purge: cut_before_retention', async () => {
    const DAY = 86_400_000;
    const c = chain(6);
    const signer = createAuditSigner(await testJwtKey());
    const verifier = createAuditVerifier([signer.publicKey]);
    const now = new Date('2026-06-01T00:00:00Z');
    const signedAt = (seq: number, at: number) => {
      const statement: CheckpointStatement = {
        v: 1,
        organization_id: ORG,
        seq,
        head_hash: c[seq - 1]!.hash.toString('hex'),
        signed_at: new Date(at).toISOString(),
        key_id: signer.keyId,
      };
      return { statement, signature: signer.sign(statement) };
    };
    const head = { seq: 6, hash: c[5]!.hash };
    const cut = (at: number, retentionDays?: number) =>
      verifyChain({
        entries: c.slice(3),
        head,
        checkpoints: [signedAt(3, at)],
        verifier,
        now,
        ...(retentionDays === undefined ? {} : { retentionDays }),
      });
    // The purge cuts only at a checkpoint signed before its cutoff (its instant, at most 5 minutes past
    // the database's clock, minus the retention): one signed 91 days ago under 90 days is a purge's cut.
    expect(await cut(now.getTime() - 91 * DAY, 90)).toMatchObject({ valid: true, anchorSeq: 3 });
    // Right at the bound (allowing the purge's 5 minutes): still one.
    const bound = now.getTime() + PURGE_CLOCK_ALLOWANCE_MS - 90 * DAY;
    expect(await cut(bound - 1, 90)).toMatchObject({ valid: true });
    expect(await cut(bound, 90)).toMatchObject({
      valid: false,
      anchorSeq: 3,
      firstBrokenSeq: 1,
      reason: 'cut_before_retention',
    });
    // A checkpoint signed minutes ago anchors nothing, under any retention (without one: 1 day, the
    // shortest a plan can set; a recorded one below it does not lower that).
    for (const days of [undefined, 0, 1, 365]) {
      const r = await cut(now.getTime() - 10 * 60_000, days);
      expect(r).toMatchObject({ valid: false, reason: 'cut_before_retention', breaks: [{ seq: 1 }] });
      expect(r.detail).toMatch(/no retention purge could have cut there/);
    }
    expect(await cut(now.getTime() - 2 * DAY)).toMatchObject({ valid: true });
    // Everything cut up to the head's checkpoint: the same bound.
    const all = (at: number) =>
      verifyChain({ entries: [], head, checkpoints: [signedAt(6, at)], verifier, now, retentionDays: 90 });
    expect(await all(now.getTime() - 100 * DAY)).toMatchObject({ valid: true, anchorSeq: 6 });
    expect(await all(now.getTime() - DAY)).toMatchObject({ valid: false, reason: 'cut_before_retention' });
    // A chain starting at its genesis needs no old checkpoint.
    expect(
      await verifyChain({ entries: c, head, checkpoints: [signedAt(3, now.getTime())], verifier, now }),
    ).toMatchObject({ valid: true, anchorSeq: null });
  });

  it('a cut is held to the shortest retention the signed checkpoints from the anchor on state (v2)', async () => {
    const DAY = 86_400_000;
    const c = chain(6);
    const signer = createAuditSigner(await testJwtKey());
    const verifier = createAuditVerifier([signer.publicKey]);
    const now = new Date('2026-06-01T00:00:00Z');
    const stating = (seq: number, daysAgo: number, retention: number | null): StoredCheckpoint => {
      const statement: CheckpointStatement = {
        v: 2,
        organization_id: ORG,
        seq,
        head_hash: c[seq - 1]!.hash.toString('hex'),
        signed_at: new Date(now.getTime() - daysAgo * DAY).toISOString(),
        key_id: signer.keyId,
        retention_days: retention,
      };
      return { statement, signature: signer.sign(statement) };
    };
    const head = { seq: 6, hash: c[5]!.hash };
    const cut = (checkpoints: StoredCheckpoint[], retentionDays?: number) =>
      verifyChain({
        entries: c.slice(3),
        head,
        checkpoints,
        verifier,
        now,
        ...(retentionDays === undefined ? {} : { retentionDays }),
      });
    // Signed 100 days ago stating 365: no purge cut there, whatever the (unsigned) recorded period says.
    for (const days of [undefined, 1, 30]) {
      expect(await cut([stating(3, 100, 365)], days)).toMatchObject({
        valid: false,
        anchorSeq: 3,
        reason: 'cut_before_retention',
      });
    }
    expect(await cut([stating(3, 400, 365)])).toMatchObject({ valid: true, anchorSeq: 3 });
    // A later checkpoint stating a shortened retention (30 days) allows the cut; a raised one (forever)
    // after a purge does not flag it: the shortest counts.
    expect(await cut([stating(3, 100, 365), stating(6, 0, 30)])).toMatchObject({ valid: true });
    expect(await cut([stating(3, 400, 365), stating(6, 0, null)])).toMatchObject({ valid: true });
    // Forever stated from the anchor on: no purge could cut at all.
    const forever = await cut([stating(3, 5000, null), stating(6, 0, null)]);
    expect(forever).toMatchObject({ valid: false, reason: 'cut_before_retention' });
    expect(forever.detail).toMatch(/kept forever/);
    // A stated retention rewritten (or the statement turned back into v1) breaks its signature.
    const signed = stating(3, 400, 365);
    const lowered = { ...signed, statement: { ...signed.statement, retention_days: 1 } };
    const { organization_id, seq, head_hash, signed_at, key_id } = signed.statement;
    const stripped = {
      ...signed,
      statement: { v: 1 as const, organization_id, seq, head_hash, signed_at, key_id },
    };
    for (const cp of [lowered, stripped]) {
      const r = await cut([cp]);
      expect(r.valid).toBe(false);
      expect(r.breaks).toContainEqual(expect.objectContaining({ seq: 3, reason: 'bad_signature' }));
    }
    // A legacy (v1) checkpoint after the anchor states nothing: it does not loosen a v2 anchor's bound
    // down to the recorded period.
    const v1: CheckpointStatement = {
      v: 1,
      organization_id: ORG,
      seq: 6,
      head_hash: c[5]!.hash.toString('hex'),
      signed_at: now.toISOString(),
      key_id: signer.keyId,
    };
    expect(await cut([stating(3, 100, 365), { statement: v1, signature: signer.sign(v1) }], 1)).toMatchObject(
      { reason: 'cut_before_retention' },
    );
  });

  it('goes on past a break: an entry sealed with another text does not hide a later change', async () => {
    const c = chain(8);
    // Entry 2 sealed with a hash of another text than its columns (its successor links to that hash).
    const sealedOther = entryHash(c[1]!.prevHash, { ...c[1]!.entry, action: 'forged.text' });
    c[1] = { ...c[1]!, hash: sealedOther };
    c[2] = { ...c[2]!, prevHash: sealedOther, hash: entryHash(sealedOther, c[2]!.entry) };
    let prev = c[2].hash;
    for (let i = 3; i < c.length; i++) {
      c[i] = { ...c[i]!, prevHash: prev, hash: entryHash(prev, c[i]!.entry) };
      prev = c[i]!.hash;
    }
    expect(await verifyChain({ entries: c, head: { seq: 8, hash: prev } })).toMatchObject({
      valid: false,
      lastSeq: 8,
      firstBrokenSeq: 2,
      breaks: [{ seq: 2, reason: 'hash_mismatch' }],
      breaksTruncated: false,
    });
    // A later entry changed, another deleted: each is reported, the first break still first.
    c[5] = { ...c[5]!, entry: { ...c[5]!.entry, metadata: { seq: 'changed' } } };
    const gapped = c.filter((e) => e.entry.seq !== 7);
    expect(await verifyChain({ entries: gapped, head: { seq: 8, hash: prev } })).toMatchObject({
      valid: false,
      firstBrokenSeq: 2,
      reason: 'hash_mismatch',
      breaks: [
        { seq: 2, reason: 'hash_mismatch' },
        { seq: 6, reason: 'hash_mismatch' },
        { seq: 7, reason: 'missing_entry' },
      ],
    });
  });

  it('lists at most MAX_REPORTED_BREAKS breaks, the lowest first', async () => {
    const c = chain(MAX_REPORTED_BREAKS * 3);
    const broken = c.map((e) => ({ ...e, entry: { ...e.entry, metadata: { seq: 'changed' } } }));
    const r = await verifyChain({ entries: broken, head: { seq: c.length, hash: c[c.length - 1]!.hash } });
    expect(r.breaks).toHaveLength(MAX_REPORTED_BREAKS);
    expect(r.breaks.map((b) => b.seq)).toEqual(Array.from({ length: MAX_REPORTED_BREAKS }, (_, i) => i + 1));
    expect(r).toMatchObject({ firstBrokenSeq: 1, breaksTruncated: true });
  });
});
