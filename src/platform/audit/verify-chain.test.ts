import { describe, expect, it } from 'vitest';
import { testJwtKey } from '../../modules/tokens/tokens.test-support.js';
import { buildEntry, entryHash, GENESIS_HASH } from './chain.js';
import { createAuditSigner, createAuditVerifier, type CheckpointStatement } from './signing.js';
import type { StoredEntry } from './stored.js';
import { verifyChain } from './verify-chain.js';

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
});
