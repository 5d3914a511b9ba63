/**
 * Per-organization envelope encryption (issue 12): the contract other modules code against.
 *
 * Each organization has a data key (AES-256), stored only wrapped by a key-encryption key (KEK) of a
 * {@link KmsProvider}. Values are sealed with AES-256-GCM under the data key, with associated data binding
 * organization, table, column and row id: a ciphertext copied to another row, column or tenant fails to
 * open. Destroying an organization's data keys (crypto-shredding) makes every value sealed for it
 * unreadable everywhere, backups included, since no copy of the unwrapped key was ever stored.
 *
 * Implementations live beside this file (`tenant-sealer.ts`, `kms-*.ts`); this file holds only types.
 */
import type { TenantDb } from '../tenancy/tenant-database.js';

/** Where a sealed value lives. Bound as associated data together with the organization id. */
export interface SealBinding {
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
}

/** Sealing and opening per organization, on the caller's open tenant scope (`withTenant`). */
export interface TenantSealer {
  /**
   * Seals `plaintext` under the organization's current data key (created and wrapped by the KMS on first
   * use). The result is a self-describing text (`t1.<keyVersion>.<iv>.<tag>.<ciphertext>`).
   */
  sealForTenant(
    db: TenantDb,
    organizationId: string,
    binding: SealBinding,
    plaintext: string | Buffer,
  ): Promise<string>;
  /**
   * Opens a value sealed for exactly this organization, table, column and row.
   * @throws TenantKeyError `SEALED_VALUE_UNREADABLE` when it was altered, moved, or its key destroyed.
   */
  openForTenant(db: TenantDb, organizationId: string, binding: SealBinding, sealed: string): Promise<Buffer>;
}

/** A column holding sealed values; key rotation re-encrypts every one registered. */
export interface SealedColumn {
  readonly table: string;
  readonly column: string;
  /** The column whose value is the binding's `rowId`. */
  readonly idColumn: string;
}

/** A key-encryption key provider: `local` (the KEK from the environment or `./.data`) or AWS KMS. */
export interface KmsProvider {
  readonly name: 'local' | 'aws-kms';
  /** A fresh 32-byte data key, returned in clear and wrapped under the current KEK. */
  generateDataKey(): Promise<{ plaintext: Buffer; wrapped: Buffer; kekId: string }>;
  decrypt(wrapped: Buffer, kekId: string): Promise<Buffer>;
  encrypt(plaintext: Buffer): Promise<{ wrapped: Buffer; kekId: string }>;
  /** Re-wraps under the current KEK without the caller seeing the plaintext (KEK rotation). */
  reEncrypt(wrapped: Buffer, kekId: string): Promise<{ wrapped: Buffer; kekId: string }>;
}

/** Crypto-shredding, for the organization-deletion workflow (a named privileged path, audited by the caller). */
export interface TenantKeyShredder {
  /** Destroys every data key of the organization; irreversible. Idempotent. */
  destroyOrganizationKeys(organizationId: string): Promise<{ destroyed: number }>;
}
