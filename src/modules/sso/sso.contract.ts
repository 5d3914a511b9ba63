/**
 * The contract between single sign-on's core (connections, domains, JIT provisioning, sessions) and each
 * protocol (OIDC here, SAML beside it). A protocol verifies what the IdP answered and hands an `SsoProfile`
 * to `SsoSignIn.complete`; it never creates users, memberships or sessions itself.
 *
 * Registration: the SSO module (sso.module.ts) builds the OIDC `SsoProtocol` and takes the others from
 * its options; the sign-in wiring (src/app/services/sign-in.ts) passes SAML's there
 * (`createSsoModule({ options: { protocols: [saml.protocol] } })`); `SsoProtocols.get(kind)` answers the
 * one for a connection. The core's `SsoSignIn` is handed to each protocol's routes (`ssoSignIn` in the route
 * dependencies), so the SAML ACS route calls `ssoSignIn.complete(profile, meta)` after it validated the
 * response.
 */
import type { SessionMeta } from '../auth/sessions.types.js';

export type SsoConnectionKind = 'oidc' | 'saml';

/** One mapping of an IdP group / role value to a role of the organization. */
export interface SsoRoleMapping {
  readonly value: string;
  readonly role: string;
}

/**
 * What a protocol hands to JIT provisioning after it VERIFIED the IdP's answer (signature, issuer,
 * audience, expiry, the flow's state / nonce or InResponseTo).
 */
export interface SsoProfile {
  connectionId: string;
  organizationId: string;
  /** The IdP's stable subject (OIDC `sub`, SAML NameID). */
  subject: string;
  email: string;
  /** Whether the IdP states the address is verified (OIDC `email_verified`; SAML: the connection trusts it). */
  emailVerified: boolean;
  name?: string;
  /** The groups / roles claim or attribute values, matched against the connection's role mappings. */
  groups: readonly string[];
  /** The end of the IdP's session (SAML SessionNotOnOrAfter): caps the session's absolute expiry. */
  sessionNotOnOrAfter?: Date;
}

/**
 * The connection as loaded for a sign-in through the privileged lookup (`app_priv_sso_connection_for_sign_in`),
 * before any tenant is known. The OIDC client secret is still sealed; `openClientSecret` opens it in the
 * organization's scope when the protocol needs it.
 */
export interface SsoConnectionForSignIn {
  readonly id: string;
  readonly organizationId: string;
  readonly kind: SsoConnectionKind;
  readonly name: string;
  readonly status: 'active' | 'inactive';
  readonly defaultRole: string;
  readonly roleMappings: readonly SsoRoleMapping[];
  readonly oidc: {
    readonly issuer: string | null;
    readonly clientId: string | null;
    readonly scopes: readonly string[];
    readonly groupsClaim: string | null;
    /** Trust the ID token's email even without `email_verified: true` (off by default). */
    readonly trustEmail: boolean;
  };
  readonly saml: {
    readonly idpMetadataXml: string | null;
    readonly idpMetadataUrl: string | null;
    readonly idpEntityId: string | null;
    readonly idpSsoUrl: string | null;
    readonly idpCertificates: readonly string[];
    readonly wantAssertionsSigned: boolean;
    readonly wantResponseSigned: boolean;
    readonly allowIdpInitiated: boolean;
    readonly groupsAttribute: string | null;
    /** The attribute holding the email address; null: the NameID (emailAddress format). */
    readonly emailAttribute: string | null;
  };
  /** Opens the sealed OIDC client secret (null when none is stored). */
  openClientSecret(): Promise<string | null>;
}

/** A pending SP-initiated sign-in, as the core stored it (`sso_flows`, single use). */
export interface SsoFlowStart {
  /** The flow's id: the OIDC `state` / the SAML RelayState (random, 32 bytes base64url). */
  readonly flowId: string;
  /** Where the console goes after the sign-in (a same-origin path). */
  readonly returnTo: string;
  /** The OIDC nonce bound to this flow (SAML may use it as the AuthnRequest ID). */
  readonly nonce: string;
  /** The PKCE verifier of this flow (OIDC). */
  readonly codeVerifier: string;
}

export interface SsoProtocol {
  readonly kind: SsoConnectionKind;
  /** The IdP URL to send the browser to for an SP-initiated sign-in. */
  startSignIn(connection: SsoConnectionForSignIn, flow: SsoFlowStart): Promise<{ redirectUrl: string }>;
}

/** What a completed SSO sign-in answers: the new session's token (set as the session cookie by the route). */
export interface SsoSignInResult {
  token: string;
  sessionId: string;
  userId: string;
  organizationId: string;
  /** Whether JIT provisioning created the user on this sign-in. */
  provisioned: boolean;
  /** The session's absolute expiry (the cookie's: `sessions.cookie(token, { absoluteExpiresAt })`). */
  absoluteExpiresAt: Date;
}

/** JIT provisioning + session creation, owned by the core; the SAML ACS route calls it. */
export interface SsoSignIn {
  complete(profile: SsoProfile, meta: SessionMeta & { ip: string }): Promise<SsoSignInResult>;
  /** Loads an ACTIVE connection for a sign-in (null when unknown or inactive: answer like a bad request). */
  connectionForSignIn(connectionId: string): Promise<SsoConnectionForSignIn | null>;
  /**
   * Takes a pending flow, once (null when unknown, used or expired, or when `browserToken`, the `sr_sso`
   * cookie, is not the one of the browser that started it).
   */
  consumeFlow(
    flowId: string,
    browserToken: string | null,
  ): Promise<(SsoFlowStart & { connectionId: string }) | null>;
}

/** The protocols registered in the composition root, by kind. */
export interface SsoProtocols {
  get(kind: SsoConnectionKind): SsoProtocol | undefined;
}

export function ssoProtocols(list: readonly SsoProtocol[]): SsoProtocols {
  const byKind = new Map(list.map((p) => [p.kind, p]));
  return { get: (kind) => byKind.get(kind) };
}
