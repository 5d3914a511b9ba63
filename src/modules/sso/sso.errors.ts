import { AppError } from '../../platform/errors.js';

export type SsoErrorCode =
  | 'SSO_CONNECTION_NOT_FOUND'
  | 'SSO_DOMAIN_NOT_FOUND'
  | 'SSO_CONNECTION_INVALID'
  | 'SSO_DISCOVERY_FAILED'
  | 'SSO_DOMAIN_INVALID'
  | 'SSO_DOMAIN_PUBLIC'
  | 'SSO_DOMAIN_TAKEN'
  | 'SSO_DOMAIN_EXISTS'
  | 'SSO_DOMAIN_NOT_VERIFIED'
  | 'SSO_NOT_CONFIGURED'
  | 'SSO_FLOW_INVALID'
  | 'SSO_IDP_RESPONSE_INVALID'
  | 'SSO_EMAIL_NOT_VERIFIED'
  | 'SSO_EMAIL_DOMAIN_NOT_ALLOWED'
  | 'SSO_USER_UNAVAILABLE'
  | 'SSO_ORGANIZATION_UNAVAILABLE'
  | 'SSO_REQUIRED'
  | 'SSO_OWNER_REQUIRED'
  | 'API_KEY_CANNOT_CREATE_CREDENTIALS';

const STATUS: Record<SsoErrorCode, number> = {
  SSO_CONNECTION_NOT_FOUND: 404,
  SSO_DOMAIN_NOT_FOUND: 404,
  SSO_CONNECTION_INVALID: 400,
  SSO_DISCOVERY_FAILED: 422,
  SSO_DOMAIN_INVALID: 400,
  SSO_DOMAIN_PUBLIC: 422,
  SSO_DOMAIN_TAKEN: 409,
  SSO_DOMAIN_EXISTS: 409,
  SSO_DOMAIN_NOT_VERIFIED: 422,
  SSO_NOT_CONFIGURED: 404,
  SSO_FLOW_INVALID: 400,
  SSO_IDP_RESPONSE_INVALID: 401,
  SSO_EMAIL_NOT_VERIFIED: 403,
  SSO_EMAIL_DOMAIN_NOT_ALLOWED: 403,
  SSO_USER_UNAVAILABLE: 403,
  SSO_ORGANIZATION_UNAVAILABLE: 403,
  SSO_REQUIRED: 403,
  SSO_OWNER_REQUIRED: 403,
  API_KEY_CANNOT_CREATE_CREDENTIALS: 403,
};

/** Errors of the single sign-on module. */
export class SsoError extends AppError<SsoErrorCode> {
  constructor(code: SsoErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, STATUS[code], details);
  }
}

/** The one answer for a connection that does not exist in the caller's organization, whoever owns it. */
export const connectionNotFound = () => new SsoError('SSO_CONNECTION_NOT_FOUND', 'SSO connection not found');
export const domainNotFound = () => new SsoError('SSO_DOMAIN_NOT_FOUND', 'domain not found');
/** A sign-in whose flow (state) is unknown, used or expired: nothing about which. */
export const flowInvalid = () =>
  new SsoError('SSO_FLOW_INVALID', 'this sign-in link is no longer valid; start the sign-in again');

/**
 * require-SSO refusing a sign-in that did not come through the organization's IdP (password, social
 * account, passkey): the same answer as the password login's, with where to continue.
 */
export const ssoRequired = (organizationSlug: string) =>
  new SsoError('SSO_REQUIRED', 'your organization requires single sign-on: continue with SSO', {
    discover: '/v1/auth/sso/discover',
    organization: organizationSlug,
  });

/** The require-SSO rule for a user signing in with an address (null: no organization requires SSO). */
export type SsoRequiredFor = (userId: string, email: string) => Promise<{ slug: string } | null>;
