import { AppError } from '../../platform/errors.js';

export type InvitationsErrorCode =
  | 'INVITATION_NOT_FOUND'
  | 'INVITATION_EXPIRED'
  | 'INVITATION_REVOKED'
  | 'INVITATION_ROLE_REMOVED'
  | 'INVITATION_ALREADY_ACCEPTED'
  | 'INVITATION_EMAIL_MISMATCH'
  | 'INVITATION_MEMBER_EXISTS'
  | 'INVITATION_ALREADY_PENDING'
  | 'INVITATION_RATE_LIMITED'
  | 'INVITATION_ROLE_NOT_ALLOWED'
  | 'INVITATION_ROLE_UNKNOWN';

const STATUS: Record<InvitationsErrorCode, number> = {
  INVITATION_NOT_FOUND: 404,
  INVITATION_EXPIRED: 410,
  INVITATION_REVOKED: 410,
  INVITATION_ROLE_REMOVED: 410,
  INVITATION_ALREADY_ACCEPTED: 409,
  INVITATION_EMAIL_MISMATCH: 403,
  INVITATION_MEMBER_EXISTS: 409,
  INVITATION_ALREADY_PENDING: 409,
  INVITATION_RATE_LIMITED: 429,
  INVITATION_ROLE_NOT_ALLOWED: 403,
  INVITATION_ROLE_UNKNOWN: 400,
};

/** Errors of the invitations module. */
export class InvitationsError extends AppError<InvitationsErrorCode> {
  constructor(code: InvitationsErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

export const invitationNotFound = () => new InvitationsError('INVITATION_NOT_FOUND', 'invitation not found');
