import type { Schemas } from '../../../api/client';
import type { CreateSsoConnectionBody } from '../api/createSsoConnection';
import type { UpdateSsoConnectionBody } from '../api/updateSsoConnection';

export type Connection = Schemas['SsoConnection'];

/** One "IdP group → role" row of the form (the role is null until chosen). */
export interface RoleMappingDraft {
  readonly value: string;
  readonly role: string | null;
}

/**
 * What the connection form holds: every field of both protocols as the person typed it. A new connection
 * starts from {@link emptyDraft}, an existing one from {@link draftOf} (never with its secret: the server
 * does not return it, and a blank secret keeps the stored one).
 */
export interface ConnectionDraft {
  readonly kind: 'oidc' | 'saml';
  readonly name: string;
  readonly defaultRole: string | null;
  readonly active: boolean;
  readonly roleMappings: readonly RoleMappingDraft[];
  // OIDC
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Space-separated. */
  readonly scopes: string;
  readonly groupsClaim: string;
  readonly trustEmail: boolean;
  // SAML
  readonly metadataUrl: string;
  readonly metadataXml: string;
  readonly wantAssertionsSigned: boolean;
  readonly wantResponseSigned: boolean;
  readonly allowIdpInitiated: boolean;
  readonly groupsAttribute: string;
  /** Blank: the address is the NameID. */
  readonly emailAttribute: string;
}

/** The server's defaults (src/migrations/0055-sso.ts, connections.service.ts). */
const DEFAULT_SCOPES = 'openid email profile';

export function emptyDraft(): ConnectionDraft {
  return {
    kind: 'oidc',
    name: '',
    defaultRole: 'member',
    active: true,
    roleMappings: [],
    issuer: '',
    clientId: '',
    clientSecret: '',
    scopes: DEFAULT_SCOPES,
    groupsClaim: '',
    trustEmail: false,
    metadataUrl: '',
    metadataXml: '',
    wantAssertionsSigned: true,
    wantResponseSigned: false,
    allowIdpInitiated: false,
    groupsAttribute: '',
    emailAttribute: '',
  };
}

export function draftOf(c: Connection): ConnectionDraft {
  const empty = emptyDraft();
  return {
    ...empty,
    kind: c.kind,
    name: c.name,
    defaultRole: c.defaultRole,
    active: c.status === 'active',
    roleMappings: c.roleMappings.map((m) => ({ value: m.value, role: m.role })),
    issuer: c.oidc?.issuer ?? '',
    clientId: c.oidc?.clientId ?? '',
    scopes: c.oidc ? c.oidc.scopes.join(' ') : empty.scopes,
    groupsClaim: c.oidc?.groupsClaim ?? '',
    trustEmail: c.oidc?.trustEmail ?? false,
    metadataUrl: c.saml?.idpMetadataUrl ?? '',
    wantAssertionsSigned: c.saml?.wantAssertionsSigned ?? empty.wantAssertionsSigned,
    wantResponseSigned: c.saml?.wantResponseSigned ?? empty.wantResponseSigned,
    allowIdpInitiated: c.saml?.allowIdpInitiated ?? empty.allowIdpInitiated,
    groupsAttribute: c.saml?.groupsAttribute ?? '',
    emailAttribute: c.saml?.emailAttribute ?? '',
  };
}

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/;
const scopeList = (s: string) => s.split(/\s+/).filter(Boolean);

function isHttpUrl(s: string, httpsOnly: boolean): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'https:' || (!httpsOnly && u.protocol === 'http:');
  } catch {
    return false;
  }
}

/**
 * The form's own checks, by field name (the server checks again, and also what only it knows: OIDC
 * discovery, the metadata, the roles). `editing`: the connection being edited, whose metadata and secret
 * may be left blank to keep them.
 */
export function validateDraft(d: ConnectionDraft, editing: Connection | null): Record<string, string> {
  const e: Record<string, string> = {};
  const name = d.name.trim();
  if (!name) e.name = 'Enter a name';
  else if (name.length > 200) e.name = 'At most 200 characters';
  if (!d.defaultRole) e.defaultRole = 'Choose a role';
  d.roleMappings.forEach((m, i) => {
    if (!m.value.trim()) e[`mapping${i}`] = 'Enter the group';
    else if (m.value.trim().length > 200) e[`mapping${i}`] = 'At most 200 characters';
    else if (!m.role) e[`mapping${i}`] = 'Choose a role';
  });
  if (d.kind === 'oidc') {
    if (!isHttpUrl(d.issuer.trim(), false)) e.issuer = 'Enter the issuer URL (https://…)';
    if (!d.clientId.trim()) e.clientId = 'Enter the client ID';
    const scopes = scopeList(d.scopes);
    if (scopes.length > 20) e.scopes = 'At most 20 scopes';
    else if (scopes.some((s) => !SCOPE.test(s))) e.scopes = 'Scopes are words without quotes or backslashes';
    if (d.groupsClaim.trim().length > 100) e.groupsClaim = 'At most 100 characters';
  } else {
    const url = d.metadataUrl.trim();
    if (url && !isHttpUrl(url, true)) e.metadataUrl = 'The metadata URL must start with https://';
    if (!url && !d.metadataXml.trim() && !editing) e.metadataUrl = 'Enter the metadata URL or paste the XML';
    if (d.groupsAttribute.trim().length > 200) e.groupsAttribute = 'At most 200 characters';
    if (d.emailAttribute.trim().length > 256) e.emailAttribute = 'At most 256 characters';
  }
  return e;
}

const mappings = (d: ConnectionDraft) =>
  d.roleMappings.map((m) => ({ value: m.value.trim(), role: m.role! }));

/** The POST body of a new connection (call after {@link validateDraft} found nothing). */
export function createBody(d: ConnectionDraft): CreateSsoConnectionBody {
  const common = {
    name: d.name.trim(),
    defaultRole: d.defaultRole!,
    status: d.active ? ('active' as const) : ('inactive' as const),
    ...(d.roleMappings.length ? { roleMappings: mappings(d) } : {}),
  };
  if (d.kind === 'oidc') {
    return {
      kind: 'oidc',
      ...common,
      oidc: {
        issuer: d.issuer.trim(),
        clientId: d.clientId.trim(),
        ...(d.clientSecret ? { clientSecret: d.clientSecret } : {}),
        ...(d.scopes.trim() !== DEFAULT_SCOPES ? { scopes: scopeList(d.scopes) } : {}),
        ...(d.groupsClaim.trim() ? { groupsClaim: d.groupsClaim.trim() } : {}),
        trustEmail: d.trustEmail,
      },
    };
  }
  return {
    kind: 'saml',
    ...common,
    saml: {
      ...(d.metadataXml.trim()
        ? { idpMetadataXml: d.metadataXml.trim() }
        : { idpMetadataUrl: d.metadataUrl.trim() }),
      wantAssertionsSigned: d.wantAssertionsSigned,
      wantResponseSigned: d.wantResponseSigned,
      allowIdpInitiated: d.allowIdpInitiated,
      ...(d.groupsAttribute.trim() ? { groupsAttribute: d.groupsAttribute.trim() } : {}),
      ...(d.emailAttribute.trim() ? { emailAttribute: d.emailAttribute.trim() } : {}),
    },
  };
}

/**
 * The PATCH body of an edit: only what changed (an unchanged issuer or metadata URL is not sent, so the
 * server does not run discovery or fetch the metadata again); a blank secret or metadata XML keeps the
 * stored one. Empty when nothing changed.
 */
export function updateBody(d: ConnectionDraft, c: Connection): UpdateSsoConnectionBody {
  const was = draftOf(c);
  const body: UpdateSsoConnectionBody = {};
  if (d.name.trim() !== c.name) body.name = d.name.trim();
  if (d.active !== was.active) body.status = d.active ? 'active' : 'inactive';
  if (d.defaultRole !== c.defaultRole) body.defaultRole = d.defaultRole!;
  if (JSON.stringify(mappings(d)) !== JSON.stringify(mappings(was))) body.roleMappings = mappings(d);
  const nullable = (s: string) => (s.trim() ? s.trim() : null);
  if (c.kind === 'oidc') {
    const oidc: NonNullable<UpdateSsoConnectionBody['oidc']> = {};
    if (d.issuer.trim() !== was.issuer) oidc.issuer = d.issuer.trim();
    if (d.clientId.trim() !== was.clientId) oidc.clientId = d.clientId.trim();
    if (d.clientSecret) oidc.clientSecret = d.clientSecret;
    if (scopeList(d.scopes).join(' ') !== scopeList(was.scopes).join(' ')) oidc.scopes = scopeList(d.scopes);
    if (d.groupsClaim.trim() !== was.groupsClaim) oidc.groupsClaim = nullable(d.groupsClaim);
    if (d.trustEmail !== was.trustEmail) oidc.trustEmail = d.trustEmail;
    if (Object.keys(oidc).length) body.oidc = oidc;
  } else {
    const saml: NonNullable<UpdateSsoConnectionBody['saml']> = {};
    if (d.metadataXml.trim()) saml.idpMetadataXml = d.metadataXml.trim();
    else if (d.metadataUrl.trim() && d.metadataUrl.trim() !== was.metadataUrl)
      saml.idpMetadataUrl = d.metadataUrl.trim();
    if (d.wantAssertionsSigned !== was.wantAssertionsSigned)
      saml.wantAssertionsSigned = d.wantAssertionsSigned;
    if (d.wantResponseSigned !== was.wantResponseSigned) saml.wantResponseSigned = d.wantResponseSigned;
    if (d.allowIdpInitiated !== was.allowIdpInitiated) saml.allowIdpInitiated = d.allowIdpInitiated;
    if (d.groupsAttribute.trim() !== was.groupsAttribute) saml.groupsAttribute = nullable(d.groupsAttribute);
    if (d.emailAttribute.trim() !== was.emailAttribute) saml.emailAttribute = nullable(d.emailAttribute);
    if (Object.keys(saml).length) body.saml = saml;
  }
  return body;
}
