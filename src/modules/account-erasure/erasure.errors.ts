import { AppError } from '../../platform/errors.js';

export type ErasureErrorCode =
  'ACCOUNT_LAST_OWNER' | 'ACCOUNT_SECOND_FACTOR_REQUIRED' | 'ACCOUNT_NOT_FOUND' | 'ACCOUNT_ERASURE_SELF';

const STATUS: Record<ErasureErrorCode, number> = {
  // The user is the only owner of an organization that has other members: transfer or delete it first.
  ACCOUNT_LAST_OWNER: 409,
  // Two-factor authentication is on: the erasure needs a TOTP or recovery code too.
  ACCOUNT_SECOND_FACTOR_REQUIRED: 400,
  ACCOUNT_NOT_FOUND: 404,
  // A platform administrator erases their own account through DELETE /v1/account (re-authenticated).
  ACCOUNT_ERASURE_SELF: 409,
};

/** Errors of account erasure. */
export class ErasureError extends AppError<ErasureErrorCode> {
  constructor(code: ErasureErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The organizations blocking an erasure, named so the user knows what to transfer or delete. */
export const lastOwner = (organizations: { id: string; slug: string; name: string }[]) =>
  new ErasureError(
    'ACCOUNT_LAST_OWNER',
    `you are the only owner of ${organizations.map((o) => `"${o.name}"`).join(', ')}, which ${
      organizations.length === 1 ? 'has' : 'have'
    } other members: transfer ownership or delete ${organizations.length === 1 ? 'it' : 'them'} first`,
    { organizations },
  );
