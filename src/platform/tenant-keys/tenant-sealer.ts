import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { scopeStorage } from '../tenancy/tenant-database.js';
import type { SealBinding, TenantSealer } from './contract.js';
import type { Kms } from './kms.js';
import type { KeyVault } from './key-vault.js';
import { TenantKeyError } from './errors.js';

const FORMAT = 't1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const B64URL = /^[A-Za-z0-9_-]+$/;
/** Default lifetime of an unwrapped data key in this process's memory. */
export const DEFAULT_KEY_CACHE_TTL_MS = 5 * 60_000;
const MAX_CACHED_KEYS = 10_000;

export interface TenantSealerOptions {
  readonly vault: KeyVault;
  readonly kms: Kms;
  /** How long an unwrapped data key stays in memory (0: never cached). Default 5 minutes. */
  readonly cacheTtlMs?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** The sealer plus what the key lifecycle (rotation, shredding, invalidation) needs of it. */
export interface TenantSealerWithKeys extends TenantSealer {
  /**
   * Drops the organization's cached keys (every organization's without an id). The buffers are not
   * zeroed: a seal already holding one must finish with the right key; they are left to the collector.
   */
  forget(organizationId?: string): void;
  /** The version a value was sealed with, or undefined when `sealed` is not in this format. */
  versionOf(sealed: string): number | undefined;
  /** How many unwrapped keys are cached (tests). */
  readonly cachedKeys: number;
}

const unreadable = () => new TenantKeyError('SEALED_VALUE_UNREADABLE', 'the sealed value cannot be opened');

/** Associated data: format, organization, table, column, row and key version, unambiguously encoded. */
function aadOf(organizationId: string, b: SealBinding, version: number): Buffer {
  return Buffer.from(JSON.stringify([FORMAT, organizationId, b.table, b.column, b.rowId, version]), 'utf8');
}

function decode(part: string | undefined, bytes?: number): Buffer {
  if (part === undefined || !B64URL.test(part)) throw unreadable();
  const buf = Buffer.from(part, 'base64url');
  if (buf.toString('base64url') !== part || (bytes !== undefined && buf.length !== bytes)) throw unreadable();
  return buf;
}

function parse(sealed: string): { version: number; iv: Buffer; tag: Buffer; ct: Buffer } {
  if (typeof sealed !== 'string') throw unreadable();
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== FORMAT || !/^[1-9]\d{0,8}$/.test(parts[1]!)) throw unreadable();
  return {
    version: Number(parts[1]),
    iv: decode(parts[2], IV_BYTES),
    tag: decode(parts[3], TAG_BYTES),
    ct: decode(parts[4]),
  };
}

/** The caller must be inside the organization's own `withTenant` scope. */
function checkScope(organizationId: string): void {
  if (scopeStorage.getStore()?.tenantId !== organizationId) {
    throw new TenantKeyError(
      'TENANT_SCOPE_MISMATCH',
      'sealForTenant/openForTenant must run inside withTenant of the same organization',
    );
  }
}

/**
 * AES-256-GCM per organization (see contract.ts). Keys come from the vault, unwrapped by the KMS on first
 * use per process and kept in memory at most `cacheTtlMs`; concurrent misses share one unwrap. An
 * organization's first seal creates its key: concurrent first seals all insert-if-absent and then read
 * the one row that won.
 */
export function createTenantSealer(opts: TenantSealerOptions): TenantSealerWithKeys {
  const ttl = opts.cacheTtlMs ?? DEFAULT_KEY_CACHE_TTL_MS;
  const now = opts.now ?? Date.now;
  /** `<org>/<version>` → unwrapped key. */
  const keys = new Map<string, { key: Buffer; expires: number }>();
  /** `<org>` → its active version. */
  const active = new Map<string, { version: number; expires: number }>();
  const inflight = new Map<string, Promise<Buffer>>();
  /** Bumped by `forget`: an unwrap that started before it is not cached. */
  let generation = 0;

  const remember = (id: string, key: Buffer) => {
    if (ttl <= 0) return;
    if (keys.size >= MAX_CACHED_KEYS) {
      const oldest = keys.keys().next().value;
      if (oldest !== undefined) keys.delete(oldest);
    }
    keys.set(id, { key, expires: now() + ttl });
  };

  const loadKey = async (organizationId: string, version: number): Promise<Buffer> => {
    const id = `${organizationId}/${version}`;
    const hit = keys.get(id);
    if (hit && hit.expires > now()) return hit.key;
    if (hit) keys.delete(id);
    const pending = inflight.get(id);
    if (pending) return pending;
    const gen = generation;
    const p = (async () => {
      const row = await opts.vault.key(organizationId, version);
      if (!row || row.state === 'destroyed' || !row.wrapped || !row.kekId) throw unreadable();
      const key = await opts.kms.decrypt(row.wrapped, row.kekId);
      if (key.length !== KEY_BYTES) throw unreadable();
      if (gen === generation) remember(id, key);
      return key;
    })();
    inflight.set(id, p);
    try {
      return await p;
    } finally {
      inflight.delete(id);
    }
  };

  const activeVersion = async (organizationId: string): Promise<number> => {
    const hit = active.get(organizationId);
    if (hit && hit.expires > now()) return hit.version;
    // As in loadKey: a `forget` (a rotation or shred heard) while this read is in flight means what it
    // read may be stale; it is used for this seal but not cached for a whole TTL.
    const gen = generation;
    let versions = await opts.vault.versions(organizationId);
    if (versions.length === 0) {
      const created = await opts.kms.generateDataKey();
      created.plaintext.fill(0); // read back through the vault like every other key
      await opts.vault.insertFirst(organizationId, created.wrapped, created.kekId);
      versions = await opts.vault.versions(organizationId);
    }
    const current = versions.find((v) => v.state === 'active');
    if (!current) {
      throw new TenantKeyError(
        'ORGANIZATION_KEYS_DESTROYED',
        "the organization's keys were destroyed; nothing can be sealed for it",
      );
    }
    if (ttl > 0 && gen === generation) {
      active.set(organizationId, { version: current.version, expires: now() + ttl });
    }
    return current.version;
  };

  const sealer: TenantSealerWithKeys = {
    async sealForTenant(_db, organizationId, binding, plaintext) {
      checkScope(organizationId);
      const version = await activeVersion(organizationId);
      const key = await loadKey(organizationId, version);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadOf(organizationId, binding, version));
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const ct = Buffer.concat([cipher.update(data), cipher.final()]);
      return [
        FORMAT,
        String(version),
        iv.toString('base64url'),
        cipher.getAuthTag().toString('base64url'),
        ct.toString('base64url'),
      ].join('.');
    },

    async openForTenant(_db, organizationId, binding, sealed) {
      checkScope(organizationId);
      const { version, iv, tag, ct } = parse(sealed);
      const key = await loadKey(organizationId, version);
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aadOf(organizationId, binding, version));
      decipher.setAuthTag(tag);
      try {
        return Buffer.concat([decipher.update(ct), decipher.final()]);
      } catch {
        throw unreadable();
      }
    },

    forget(organizationId) {
      generation++;
      for (const id of keys.keys()) {
        if (organizationId === undefined || id.startsWith(`${organizationId}/`)) keys.delete(id);
      }
      if (organizationId === undefined) active.clear();
      else active.delete(organizationId);
    },

    versionOf(sealed) {
      const m = /^t1\.([1-9]\d{0,8})\./.exec(sealed);
      return m ? Number(m[1]) : undefined;
    },

    get cachedKeys() {
      return keys.size;
    },
  };
  return sealer;
}
