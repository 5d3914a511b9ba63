import { AppError } from '../../platform/errors.js';

export type TenantKeysErrorCode = 'ORGANIZATION_NOT_FOUND' | 'TENANT_KEYS_FORBIDDEN';

const STATUS: Record<TenantKeysErrorCode, number> = {
  ORGANIZATION_NOT_FOUND: 404,
  TENANT_KEYS_FORBIDDEN: 403,
};

export class TenantKeysError extends AppError<TenantKeysErrorCode> {
  constructor(code: TenantKeysErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}

export const organizationNotFound = () =>
  new TenantKeysError('ORGANIZATION_NOT_FOUND', 'organization not found');
