import {
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { JWK } from 'jose';
import { canonicalJson } from './canonical-json.js';

/** What a checkpoint signed before migration 0069 states: organization, seq, head hash, time, key id. */
export interface CheckpointStatementV1 {
  readonly v: 1;
  readonly organization_id: string | null;
  readonly seq: number;
  /** Hex SHA-256 of the chain entry at `seq`. */
  readonly head_hash: string;
  /** ISO 8601, UTC. */
  readonly signed_at: string;
  readonly key_id: string;
}

/**
 * What a checkpoint signs since migration 0069: version 1's fields and the organization's audit retention
 * in force when it was signed (days; null: kept forever), which bounds where verification accepts a
 * retention purge's cut. The version is signed too: a version 2 statement read as version 1 (its
 * retention stripped) no longer matches its signature.
 */
export interface CheckpointStatementV2 extends Omit<CheckpointStatementV1, 'v'> {
  readonly v: 2;
  readonly retention_days: number | null;
}

export type CheckpointStatement = CheckpointStatementV1 | CheckpointStatementV2;

/** A stored checkpoint's fields (a row of `audit_checkpoints`). */
export interface CheckpointFields {
  readonly organization_id: string | null;
  readonly seq: string | number;
  readonly head_hash: Buffer;
  readonly signed_at: Date;
  readonly key_id: string;
  /** 1: signed before migration 0069 (no retention stated); 2: states `retention_days`. */
  readonly statement_v: number;
  readonly retention_days: number | null;
}

/**
 * The statement a stored checkpoint's signature covers: version 2 (with its retention) when the row says
 * so, else version 1. A row rewritten to version 1 (its retention stripped) no longer matches the bytes
 * its version 2 signature covers, and the other way round.
 */
export function checkpointStatement(r: CheckpointFields): CheckpointStatement {
  const base = {
    organization_id: r.organization_id,
    seq: Number(r.seq),
    head_hash: r.head_hash.toString('hex'),
    signed_at: r.signed_at.toISOString(),
    key_id: r.key_id,
  };
  return r.statement_v === 2 ? { v: 2, ...base, retention_days: r.retention_days } : { v: 1, ...base };
}

/** The bytes signed for a checkpoint: the canonical JSON of its statement. */
export function checkpointMessage(statement: CheckpointStatement): Buffer {
  return Buffer.from(canonicalJson(statement), 'utf8');
}

/** The published half of the checkpoint key, in the forms a third party needs. */
export interface AuditPublicKey {
  readonly keyId: string;
  readonly algorithm: 'Ed25519';
  readonly jwk: JWK;
  readonly pem: string;
}

export interface AuditSigner {
  readonly keyId: string;
  readonly publicKey: AuditPublicKey;
  /** Ed25519 signature of the statement's canonical JSON. */
  sign(statement: CheckpointStatement): Buffer;
}

/** Checks checkpoint signatures against the published keys (by key id). */
export interface AuditVerifier {
  /** Whether a key with this id is known (a checkpoint of an unknown key cannot be checked). */
  knows(keyId: string): boolean;
  verify(statement: CheckpointStatement, signature: Buffer): boolean;
}

const publicOf = (kid: string, key: KeyObject): AuditPublicKey => {
  const { kty, crv, x } = key.export({ format: 'jwk' });
  return {
    keyId: kid,
    algorithm: 'Ed25519',
    jwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' },
    pem: key.export({ format: 'pem', type: 'spki' }).toString(),
  };
};

/** The published form of a public key given as a JWK (a retired key). */
export function publicKeyOf(kid: string, jwk: JWK): AuditPublicKey {
  return publicOf(kid, createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' }));
}

/** The checkpoint signer from the process secrets' audit key (an Ed25519 private JWK). */
export function createAuditSigner(key: { kid: string; privateJwk: JWK }): AuditSigner {
  const privateKey = createPrivateKey({ key: key.privateJwk as JsonWebKey, format: 'jwk' });
  const publicKey = publicOf(key.kid, createPublicKey(privateKey));
  return {
    keyId: key.kid,
    publicKey,
    sign: (statement) => sign(null, checkpointMessage(statement), privateKey),
  };
}

/** A verifier for the given public keys (PEM or JWK). */
export function createAuditVerifier(
  keys: readonly { keyId: string; pem?: string; jwk?: JWK }[],
): AuditVerifier {
  const byId = new Map<string, KeyObject>();
  for (const k of keys) {
    const obj = k.pem ? createPublicKey(k.pem) : createPublicKey({ key: k.jwk as JsonWebKey, format: 'jwk' });
    if (obj.asymmetricKeyType !== 'ed25519') throw new Error(`audit key ${k.keyId} is not an Ed25519 key`);
    byId.set(k.keyId, obj);
  }
  return {
    knows: (keyId) => byId.has(keyId),
    verify(statement, signature) {
      const key = byId.get(statement.key_id);
      if (!key) return false;
      try {
        return verify(null, checkpointMessage(statement), key, signature);
      } catch {
        return false;
      }
    },
  };
}
