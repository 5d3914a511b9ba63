import { AppError } from '../../platform/errors.js';

export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The scimType values of RFC 7644 section 3.12 this module answers with. */
export type ScimType =
  | 'invalidFilter'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'invalidValue'
  | 'uniqueness'
  | 'mutability'
  | 'noTarget';

/**
 * An error of the SCIM protocol routes (`/scim/v2/*`), answered in the SCIM error form
 * (`{schemas: [Error], status, scimType?, detail}`), not the `{error: {code, message}}` form of `/v1`.
 */
export class ScimError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly scimType?: ScimType,
    /** A 429's wait, answered as Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(detail);
  }

  body() {
    return {
      schemas: [SCIM_ERROR_SCHEMA],
      status: String(this.status),
      ...(this.scimType ? { scimType: this.scimType } : {}),
      detail: this.detail,
    };
  }
}

export const scimNotFound = (what: 'User' | 'Group') => new ScimError(404, `${what} not found`);
export const scimUnauthorized = () => new ScimError(401, 'a valid SCIM bearer token is required');
export const scimPreconditionFailed = () =>
  new ScimError(412, 'the resource has changed: its version does not match If-Match');
export const scimLastOwner = () =>
  new ScimError(
    400,
    'this user is the organization’s last owner: make another member owner first',
    'mutability',
  );

export const scimOwnerOutranks = () =>
  new ScimError(
    400,
    'this user is an owner: only a SCIM token issued by an owner deprovisions an owner',
    'mutability',
  );

/**
 * Runs a seat check, answering its SEAT_LIMIT_REACHED as a SCIM 403 with the same detail (it names the
 * limit and the seats in use). 403, not 409: RFC 7644 section 3.12 gives 409 to `uniqueness` and version
 * conflicts, which a directory may take for "the user already exists"; 403 is "not permitted".
 */
export async function scimSeatLimit(check: () => Promise<void> | undefined): Promise<void> {
  try {
    await check();
  } catch (err) {
    if (err instanceof AppError && err.code === 'SEAT_LIMIT_REACHED') {
      throw new ScimError(403, `seat limit reached: ${err.message}`);
    }
    throw err;
  }
}

export type ScimTokensErrorCode =
  'SCIM_TOKEN_NOT_FOUND' | 'SCIM_ESCALATION' | 'API_KEY_CANNOT_CREATE_CREDENTIALS';

/** Errors of the SCIM token management routes (`/v1/scim/*`, the usual error form). */
export class ScimTokensError extends AppError<ScimTokensErrorCode> {
  constructor(code: ScimTokensErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, code === 'SCIM_TOKEN_NOT_FOUND' ? 404 : 403, details);
  }
}

/**
 * A SCIM token minted by an API key would outlive the key's revocation or expiry (as a key minted by a
 * key would: API_KEY_CANNOT_CREATE_KEYS): only members issue and rotate them.
 */
export const scimTokenByApiKey = () =>
  new ScimTokensError(
    'API_KEY_CANNOT_CREATE_CREDENTIALS',
    'an API key cannot issue SCIM tokens: issue them signed in as a member',
  );

export const scimEscalation = (missing: string[]) =>
  new ScimTokensError(
    'SCIM_ESCALATION',
    'a SCIM token and a group role mapping can give members any role up to admin: they need every permission of admin',
    { missing },
  );

export const scimTokenNotFound = () => new ScimTokensError('SCIM_TOKEN_NOT_FOUND', 'SCIM token not found');

/** Errors of the group role mapping route (`/v1/scim/groups/:id/role`, the usual error form). */
export class ScimGroupRoleError extends AppError<'GROUP_ROLE_INVALID' | 'SCIM_GROUP_NOT_FOUND'> {
  constructor(code: 'GROUP_ROLE_INVALID' | 'SCIM_GROUP_NOT_FOUND', message: string) {
    super(code, message, code === 'GROUP_ROLE_INVALID' ? 400 : 404);
  }
}

export const groupNotFound = () => new ScimGroupRoleError('SCIM_GROUP_NOT_FOUND', 'group not found');
