import { AppError } from '../../platform/errors.js';

export type OrganizationsErrorCode =
  | 'ORGANIZATION_NOT_FOUND'
  | 'ORGANIZATION_SLUG_TAKEN'
  | 'ORGANIZATION_SLUG_INVALID'
  | 'ORGANIZATION_SETTINGS_INVALID'
  | 'ORGANIZATION_FORBIDDEN'
  | 'ORGANIZATION_CREATE_THROTTLED'
  | 'ORGANIZATION_NOT_ACTIVE'
  | 'ORGANIZATION_NOT_PENDING_DELETION'
  | 'ORGANIZATION_SUBSCRIPTION_ACTIVE'
  | 'ORGANIZATION_REGION_UNKNOWN';

const STATUS: Record<OrganizationsErrorCode, number> = {
  ORGANIZATION_NOT_FOUND: 404,
  ORGANIZATION_SLUG_TAKEN: 409,
  ORGANIZATION_SLUG_INVALID: 400,
  ORGANIZATION_SETTINGS_INVALID: 400,
  ORGANIZATION_FORBIDDEN: 403,
  ORGANIZATION_CREATE_THROTTLED: 429,
  ORGANIZATION_NOT_ACTIVE: 409,
  ORGANIZATION_NOT_PENDING_DELETION: 409,
  ORGANIZATION_SUBSCRIPTION_ACTIVE: 409,
  ORGANIZATION_REGION_UNKNOWN: 400,
};

/** Errors of the organizations module. */
export class OrganizationsError extends AppError<OrganizationsErrorCode> {
  constructor(code: OrganizationsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The one answer for an organization the caller cannot see, whether it exists or not. */
export const organizationNotFound = () =>
  new OrganizationsError('ORGANIZATION_NOT_FOUND', 'organization not found');

/** A slug that is already used by any organization. */
export const slugTaken = (slug: string) =>
  new OrganizationsError('ORGANIZATION_SLUG_TAKEN', `slug "${slug}" is already taken`);
