import { AppError } from '../../platform/errors.js';

export type OrganizationsErrorCode =
  'ORGANIZATION_NOT_FOUND' | 'ORGANIZATION_SLUG_TAKEN' | 'ORGANIZATION_SLUG_INVALID';

const STATUS: Record<OrganizationsErrorCode, number> = {
  ORGANIZATION_NOT_FOUND: 404,
  ORGANIZATION_SLUG_TAKEN: 409,
  ORGANIZATION_SLUG_INVALID: 400,
};

/** Errors of the organizations module. */
export class OrganizationsError extends AppError<OrganizationsErrorCode> {
  constructor(code: OrganizationsErrorCode, message: string) {
    super(code, message, STATUS[code]);
  }
}
