import type { SsoConnectionForSignIn, SsoProfile, SsoSignIn } from '../sso.contract.js';

/**
 * What SAML sign-in needs from an SSO connection, and what it hands on. The connection rows, their named
 * privileged lookup by id and the completion of a sign-in (JIT provisioning, membership, session) belong to
 * the SSO module; saml.module.ts (`createSaml`, called from src/app/services/sign-in.ts) adapts them to
 * these narrow shapes.
 */
export interface SamlConnection {
  readonly id: string;
  readonly organizationId: string;
  /** Inactive connections answer exactly as unknown ones. */
  readonly active: boolean;
  /** The IdP's entity id; when set, the assertion's Issuer must equal it. */
  readonly idpEntityId: string | null;
  /** Where AuthnRequests go (HTTP-Redirect binding). */
  readonly idpSsoUrl: string | null;
  /** PEM or bare base64 certificates; signatures are checked against these only. */
  readonly idpCertificates: readonly string[];
  readonly wantAssertionsSigned: boolean;
  readonly wantResponseSigned: boolean;
  readonly allowIdpInitiated: boolean;
  /** The attribute holding the email address; null: the NameID (emailAddress format). */
  readonly emailAttribute: string | null;
  /** The attribute holding the user's groups (role mappings); null: none. */
  readonly groupsAttribute: string | null;
}

/** Finds a connection by id before any tenant is known (a named privileged lookup). */
export interface SamlConnectionSource {
  findById(connectionId: string): Promise<SamlConnection | null>;
}

/** What a verified assertion says about the user (the core's SsoProfile, with the SAML details). */
export interface SamlProfile extends SsoProfile {
  /** The assertion's Issuer. */
  readonly issuer: string;
  readonly nameIdFormat: string | null;
  readonly sessionIndex: string | null;
}

/** The part of the core's `SsoSignIn` the consumer URL uses. */
export type SamlSignIn = Pick<SsoSignIn, 'complete' | 'consumeFlow'>;

/** The connection as SAML sees it, from the core's sign-in view (inactive and non-SAML ones: inactive). */
export function samlConnectionOf(c: SsoConnectionForSignIn): SamlConnection {
  return {
    id: c.id,
    organizationId: c.organizationId,
    active: c.status === 'active' && c.kind === 'saml',
    idpEntityId: c.saml.idpEntityId,
    idpSsoUrl: c.saml.idpSsoUrl,
    idpCertificates: c.saml.idpCertificates,
    wantAssertionsSigned: c.saml.wantAssertionsSigned,
    wantResponseSigned: c.saml.wantResponseSigned,
    allowIdpInitiated: c.saml.allowIdpInitiated,
    emailAttribute: c.saml.emailAttribute,
    groupsAttribute: c.saml.groupsAttribute,
  };
}
