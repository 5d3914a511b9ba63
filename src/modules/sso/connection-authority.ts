import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import { loadActor } from '../memberships/actor.js';
import type { ConnectionInput } from './connection-model.js';
import type { ConnectionRow } from './sso.repository.js';
import { SsoError } from './sso.errors.js';

/**
 * Who may decide which identity provider the organization trusts (docs/sso.md, "Who sets up a
 * connection"). A connection's IdP signs in, as themselves, the existing accounts of the organization's
 * verified domains: its owners' included, and with them every other organization those accounts belong
 * to. So creating a connection and changing what it trusts is an owner's power (as transferring
 * ownership is: the role read from the database in the caller's transaction), never an admin's, and
 * never an API key's (a connection outlives the key that would have made it, as a SCIM token would).
 */

/** Refuses an API key (403 API_KEY_CANNOT_CREATE_CREDENTIALS), before anything else is read. */
export function refuseApiKey(ctx: TenantCtx): void {
  if (ctx.actor.kind === 'api_key') {
    throw new SsoError(
      'API_KEY_CANNOT_CREATE_CREDENTIALS',
      'an API key cannot create or change SSO connections: do it signed in as an owner',
    );
  }
}

/** The acting member must be an active owner now (403 SSO_OWNER_REQUIRED). */
export async function assertOwner(db: TenantDb, ctx: TenantCtx): Promise<void> {
  refuseApiKey(ctx);
  const actor = await loadActor(db, ctx, 'sso:manage');
  if (actor.role !== 'owner') {
    throw new SsoError(
      'SSO_OWNER_REQUIRED',
      'only an owner creates an SSO connection or changes what it trusts (its IdP signs in the accounts ' +
        'of the verified domains, owners included)',
    );
  }
}

/**
 * The trust fields an update touches: what names the IdP and how its word is checked (OIDC issuer,
 * client id and secret, whether unverified addresses are taken; SAML metadata, hence entity id, SSO URL
 * and certificates, the signature requirements, IdP-initiated sign-in, the email attribute) and enabling a
 * disabled connection. A field given with its stored value is no change. The rest (name, roles, group
 * claims, scopes, disabling) is not a trust field: roles never reach owner, and an admin may grant admin
 * anyway.
 */
export function trustFieldsOf(cur: ConnectionRow, input: ConnectionInput): string[] {
  const fields: string[] = [];
  const differs = (field: string, next: unknown, stored: unknown) => {
    if (next !== undefined && next !== stored) fields.push(field);
  };
  if (input.status === 'active' && cur.status !== 'active') fields.push('status');
  const { oidc, saml } = input;
  if (oidc) {
    differs('oidc.issuer', oidc.issuer, cur.oidc_issuer);
    differs('oidc.clientId', oidc.clientId, cur.oidc_client_id);
    // Sealed at rest: any secret given counts as a change.
    if (oidc.clientSecret !== undefined) fields.push('oidc.clientSecret');
    differs('oidc.trustEmail', oidc.trustEmail, cur.oidc_trust_email);
  }
  if (saml) {
    differs('saml.idpMetadataXml', saml.idpMetadataXml, cur.saml_idp_metadata_xml);
    // A URL is fetched again on every update that names it: the metadata behind it may have changed.
    if (saml.idpMetadataUrl !== undefined) fields.push('saml.idpMetadataUrl');
    differs('saml.wantAssertionsSigned', saml.wantAssertionsSigned, cur.saml_want_assertions_signed);
    differs('saml.wantResponseSigned', saml.wantResponseSigned, cur.saml_want_response_signed);
    differs('saml.allowIdpInitiated', saml.allowIdpInitiated, cur.saml_allow_idp_initiated);
    differs('saml.emailAttribute', saml.emailAttribute, cur.saml_email_attribute);
  }
  return fields;
}
