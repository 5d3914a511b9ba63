import { AppError } from '../../../platform/errors.js';

export type SamlErrorCode =
  'SSO_CONNECTION_NOT_FOUND' | 'SAML_RESPONSE_REFUSED' | 'SAML_CONNECTION_INCOMPLETE';

const STATUS: Record<SamlErrorCode, number> = {
  SSO_CONNECTION_NOT_FOUND: 404,
  SAML_RESPONSE_REFUSED: 401,
  SAML_CONNECTION_INCOMPLETE: 409,
};

/**
 * Why a response was refused. Kept OUT of the answer (the poster learns only "refused") and logged, so an
 * attacker probing the consumer URL learns nothing about which check stopped them; tests assert on it.
 */
export type SamlRefusal =
  | 'malformed'
  | 'signature'
  | 'time'
  | 'audience'
  | 'recipient'
  | 'destination'
  | 'issuer'
  | 'in_response_to'
  | 'idp_initiated'
  | 'replay'
  | 'relay_state'
  | 'no_email'
  | 'status';

/** Errors of SAML sign-in. */
export class SamlError extends AppError<SamlErrorCode> {
  /** The check that refused a response (SAML_RESPONSE_REFUSED only); never sent to the client. */
  readonly refusal: SamlRefusal | undefined;
  constructor(code: SamlErrorCode, message: string, refusal?: SamlRefusal) {
    super(code, message, STATUS[code]);
    this.refusal = refusal;
  }
}

/** The one answer for a connection that does not exist, is not SAML, or is inactive, whoever owns it. */
export const connectionNotFound = () => new SamlError('SSO_CONNECTION_NOT_FOUND', 'SSO connection not found');

/** The one answer for every refused response (the reason is logged, not sent). */
export const refused = (refusal: SamlRefusal) =>
  new SamlError('SAML_RESPONSE_REFUSED', 'The SAML response was refused', refusal);
