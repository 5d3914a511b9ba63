/** Error codes of the tenancy core. */
export type TenancyErrorCode =
  | 'NO_TENANT_CONTEXT'
  | 'INVALID_TENANT_ID'
  | 'INVALID_PLATFORM_ACTOR'
  | 'TENANT_SCOPE_CONFLICT'
  | 'TENANT_SCOPE_CLOSED'
  | 'PLACEMENT_UNSUPPORTED'
  | 'TRANSACTION_ROLLED_BACK';

/** A misuse of the tenancy core: always a programming error, answered as 500 over HTTP. */
export class TenancyError extends Error {
  readonly code: TenancyErrorCode;
  constructor(code: TenancyErrorCode, message: string) {
    super(message);
    this.name = 'TenancyError';
    this.code = code;
  }
}
