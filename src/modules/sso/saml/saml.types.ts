/**
 * What SAML sign-in needs from an SSO connection, and what it hands on. The connection rows, their named
 * privileged lookup by id and the completion of a sign-in (JIT provisioning, membership, session) belong to
 * the SSO module; compose.ts adapts them to these narrow shapes.
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

/** What a verified assertion says about the user. */
export interface SamlProfile {
  readonly connectionId: string;
  readonly organizationId: string;
  /** The assertion's Issuer. */
  readonly issuer: string;
  /** The NameID as sent (its full text). */
  readonly subject: string;
  readonly nameIdFormat: string | null;
  /** Lowercased. */
  readonly email: string;
  readonly groups: readonly string[];
  /** The IdP's SessionNotOnOrAfter: the session must not outlive it. */
  readonly sessionNotOnOrAfter: Date | null;
  readonly sessionIndex: string | null;
}

export interface SamlSignInMeta {
  readonly flowId: string | null;
  readonly idpInitiated: boolean;
  readonly ip: string;
  readonly userAgent: string | null;
}

/** Completes a verified sign-in: provisions the user and opens the session (the SSO module's). */
export type CompleteSamlSignIn = (
  profile: SamlProfile,
  meta: SamlSignInMeta,
) => Promise<{ readonly setCookie: string }>;
