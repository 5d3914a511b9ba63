import { AppError } from '../errors.js';

/** Stable codes of {@link TenantKeyError}. */
export type TenantKeyErrorCode =
  /** Altered, moved to another row/column/tenant, malformed, or its key destroyed: deliberately one code. */
  | 'SEALED_VALUE_UNREADABLE'
  /** The organization's keys were destroyed (crypto-shredded): nothing can be sealed for it any more. */
  | 'ORGANIZATION_KEYS_DESTROYED'
  /** sealForTenant/openForTenant called outside the organization's own `withTenant` scope. */
  | 'TENANT_SCOPE_MISMATCH'
  /** The KMS refused or could not be reached (the message names no key material). */
  | 'KMS_UNAVAILABLE'
  /** A wrapped data key names a KEK this process does not hold (e.g. a KEK_PREVIOUS entry was removed). */
  | 'KEK_UNKNOWN'
  /** A rotation is already running for this organization or KEK. */
  | 'ROTATION_IN_PROGRESS';

const STATUS: Record<TenantKeyErrorCode, number> = {
  SEALED_VALUE_UNREADABLE: 500,
  ORGANIZATION_KEYS_DESTROYED: 409,
  TENANT_SCOPE_MISMATCH: 500,
  KMS_UNAVAILABLE: 503,
  KEK_UNKNOWN: 500,
  ROTATION_IN_PROGRESS: 409,
};

/**
 * Every failure of the per-organization encryption. Messages are fixed texts: they never contain key
 * material, plaintext, ciphertext or the KMS's own error text (which may echo request data).
 */
export class TenantKeyError extends AppError<TenantKeyErrorCode> {
  constructor(code: TenantKeyErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
