import type { SsoConnectionKind, SsoRoleMapping } from './sso.contract.js';
import type { OidcDiscoveryReport } from './oidc.protocol.js';
import type { SamlMetadata } from './saml-metadata.js';
import type { ConnectionRow } from './sso.repository.js';

/*
 * What the API takes and shows of an SSO connection: the input of a create or an update, the view of a
 * stored row (never the client secret, only whether one is set), the SP-side URLs of a SAML connection,
 * and what "test" reports. No database, no I/O: connections.service.ts does the work.
 */

/** A connection as the API shows it: never the client secret, only whether one is set. */
export interface SsoConnectionView {
  id: string;
  kind: SsoConnectionKind;
  name: string;
  status: 'active' | 'inactive';
  defaultRole: string;
  roleMappings: SsoRoleMapping[];
  oidc: {
    issuer: string | null;
    clientId: string | null;
    clientSecretSet: boolean;
    scopes: string[];
    groupsClaim: string | null;
    trustEmail: boolean;
  } | null;
  saml: {
    idpMetadataUrl: string | null;
    idpEntityId: string | null;
    idpSsoUrl: string | null;
    idpCertificateCount: number;
    wantAssertionsSigned: boolean;
    wantResponseSigned: boolean;
    allowIdpInitiated: boolean;
    groupsAttribute: string | null;
    emailAttribute: string | null;
    /** This service provider's entity id, ACS URL and metadata URL, to enter at the IdP. */
    spEntityId: string;
    acsUrl: string;
    metadataUrl: string;
  } | null;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectionInput {
  kind?: SsoConnectionKind;
  name?: string;
  status?: 'active' | 'inactive';
  defaultRole?: string;
  roleMappings?: SsoRoleMapping[];
  oidc?: {
    issuer?: string;
    clientId?: string;
    clientSecret?: string;
    scopes?: string[];
    groupsClaim?: string | null;
    trustEmail?: boolean;
  };
  saml?: {
    idpMetadataXml?: string;
    idpMetadataUrl?: string;
    wantAssertionsSigned?: boolean;
    wantResponseSigned?: boolean;
    allowIdpInitiated?: boolean;
    groupsAttribute?: string | null;
    emailAttribute?: string | null;
  };
}

export interface TestReport {
  ok: boolean;
  kind: SsoConnectionKind;
  oidc?: OidcDiscoveryReport;
  saml?: Omit<SamlMetadata, 'certificates'> & { certificateCount: number };
  error?: string;
}

/** SP-side URLs of a SAML connection (the SAML routes serve them). */
export function samlEndpoints(publicUrl: string, connectionId: string) {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    spEntityId: `${base}/v1/auth/sso/saml/${connectionId}`,
    acsUrl: `${base}/v1/auth/sso/saml/${connectionId}/acs`,
    metadataUrl: `${base}/v1/auth/sso/saml/${connectionId}/metadata`,
  };
}

/** The stored row as the API shows it. */
export function connectionView(r: ConnectionRow, publicUrl: string): SsoConnectionView {
  return {
    id: r.id,
    kind: r.kind,
    name: r.name,
    status: r.status,
    defaultRole: r.default_role,
    roleMappings: r.role_mappings,
    oidc:
      r.kind === 'oidc'
        ? {
            issuer: r.oidc_issuer,
            clientId: r.oidc_client_id,
            clientSecretSet: r.oidc_client_secret !== null,
            scopes: r.oidc_scopes,
            groupsClaim: r.oidc_groups_claim,
            trustEmail: r.oidc_trust_email,
          }
        : null,
    saml:
      r.kind === 'saml'
        ? {
            idpMetadataUrl: r.saml_idp_metadata_url,
            idpEntityId: r.saml_idp_entity_id,
            idpSsoUrl: r.saml_idp_sso_url,
            idpCertificateCount: r.saml_idp_certificates.length,
            wantAssertionsSigned: r.saml_want_assertions_signed,
            wantResponseSigned: r.saml_want_response_signed,
            allowIdpInitiated: r.saml_allow_idp_initiated,
            groupsAttribute: r.saml_groups_attribute,
            emailAttribute: r.saml_email_attribute,
            ...samlEndpoints(publicUrl, r.id),
          }
        : null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}
