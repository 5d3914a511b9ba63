import type { SsoProtocol } from '../sso.contract.js';
import type { SamlService } from './saml.service.js';
import { samlConnectionOf } from './saml.types.js';

/** The SSO core's protocol for kind 'saml': an SP-initiated sign-in is an AuthnRequest (HTTP-Redirect). */
export function createSamlProtocol(saml: Pick<SamlService, 'startSignIn'>): SsoProtocol {
  return {
    kind: 'saml',
    startSignIn: (connection, flow) => saml.startSignIn(samlConnectionOf(connection), flow),
  };
}
