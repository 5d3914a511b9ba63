/** Error codes of the tenancy core. */
export type TenancyErrorCode =
  | 'NO_TENANT_CONTEXT'
  | 'INVALID_TENANT_ID'
  | 'INVALID_PLATFORM_ACTOR'
  | 'TENANT_SCOPE_CONFLICT'
  | 'TENANT_SCOPE_CLOSED'
  | 'PLACEMENT_UNSUPPORTED'
  | 'TENANT_DATABASE_BUSY'
  | 'PLACEMENT_BEHIND'
  | 'PLACEMENT_MISSING'
  | 'TENANT_DATABASES_CLOSED'
  | 'TRANSACTION_ROLLED_BACK'
  | 'PLACEMENT_CROSS_DATABASE'
  | 'PREPARED_TRANSACTIONS_DISABLED';

/**
 * A misuse of the tenancy core: a programming error, answered as 500 over HTTP. One exception:
 * TENANT_DATABASE_BUSY (no tenant-database connection free under the cap in time), PLACEMENT_BEHIND (the
 * organization's schema not yet synchronized to this server's migrations) and PLACEMENT_MISSING (its
 * placement names a schema that does not exist) are conditions of the deployment, answered 503 like an
 * unreachable database.
 */
export class TenancyError extends Error {
  readonly code: TenancyErrorCode;
  constructor(code: TenancyErrorCode, message: string) {
    super(message);
    this.name = 'TenancyError';
    this.code = code;
  }
}
