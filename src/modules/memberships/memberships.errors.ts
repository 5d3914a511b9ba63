import { AppError } from '../../platform/errors.js';

export type MembershipsErrorCode =
  | 'MEMBER_NOT_FOUND'
  | 'MEMBERSHIP_FORBIDDEN'
  | 'MEMBERSHIP_ESCALATION'
  | 'MEMBERSHIP_OUTRANKED'
  | 'MEMBERSHIP_LAST_OWNER'
  | 'MEMBERSHIP_NOT_ACTIVE'
  | 'MEMBERSHIP_TRANSFER_TO_SELF'
  | 'ROLE_NOT_FOUND'
  | 'ROLE_UNKNOWN'
  | 'ROLE_KEY_INVALID'
  | 'ROLE_KEY_RESERVED'
  | 'ROLE_KEY_TAKEN'
  | 'ROLE_PERMISSIONS_INVALID'
  | 'ROLE_IN_USE';

const STATUS: Record<MembershipsErrorCode, number> = {
  MEMBER_NOT_FOUND: 404,
  MEMBERSHIP_FORBIDDEN: 403,
  MEMBERSHIP_ESCALATION: 403,
  MEMBERSHIP_OUTRANKED: 403,
  MEMBERSHIP_LAST_OWNER: 409,
  MEMBERSHIP_NOT_ACTIVE: 409,
  MEMBERSHIP_TRANSFER_TO_SELF: 400,
  ROLE_NOT_FOUND: 404,
  ROLE_UNKNOWN: 400,
  ROLE_KEY_INVALID: 400,
  ROLE_KEY_RESERVED: 409,
  ROLE_KEY_TAKEN: 409,
  ROLE_PERMISSIONS_INVALID: 400,
  ROLE_IN_USE: 409,
};

/** Errors of the memberships module (members and roles). */
export class MembershipsError extends AppError<MembershipsErrorCode> {
  constructor(code: MembershipsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The one answer for a user who is not a member of the caller's organization, whoever else has them. */
export const memberNotFound = () => new MembershipsError('MEMBER_NOT_FOUND', 'member not found');

/** The one answer for a custom role the caller's organization does not have. */
export const roleNotFound = () => new MembershipsError('ROLE_NOT_FOUND', 'role not found');

/** The last active owner cannot go. */
export const lastOwner = () =>
  new MembershipsError(
    'MEMBERSHIP_LAST_OWNER',
    'an organization needs an active owner: make someone else owner first',
  );
