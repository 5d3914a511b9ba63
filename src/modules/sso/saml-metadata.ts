import { DOMParser } from '@xmldom/xmldom';
import { SsoError } from './sso.errors.js';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/** What an IdP's metadata document states that a connection stores. */
export interface SamlMetadata {
  entityId: string;
  /** The SingleSignOnService location (HTTP-Redirect preferred, else HTTP-POST). */
  ssoUrl: string;
  /** The signing certificates (base64 DER, no PEM armour). */
  certificates: string[];
}

/**
 * Reads an IdP's metadata with @xmldom/xmldom (the XML parser @node-saml/node-saml itself uses): the
 * entity id, the SSO URL and the signing certificates. Nothing here checks a signature: the metadata is
 * configuration the organization's administrator supplies, and the SAML responses are verified by
 * @node-saml/node-saml against these certificates.
 */
export function parseSamlMetadata(xml: string): SamlMetadata {
  if (xml.length > 500_000) throw invalid('the metadata is larger than 500 KB');
  if (/<!DOCTYPE/i.test(xml)) throw invalid('the metadata must not carry a DOCTYPE');
  const errors: string[] = [];
  const doc = new DOMParser({
    errorHandler: {
      error: (msg: unknown) => errors.push(String(msg)),
      fatalError: (msg: unknown) => errors.push(String(msg)),
    },
  }).parseFromString(xml, 'text/xml');
  if (errors.length > 0 || !doc?.documentElement) throw invalid('the metadata is not well-formed XML');
  const entity = doc.getElementsByTagNameNS(MD, 'EntityDescriptor')[0];
  const entityId = entity?.getAttribute('entityID') ?? '';
  const idp = doc.getElementsByTagNameNS(MD, 'IDPSSODescriptor')[0];
  if (!entityId || !idp) throw invalid('the metadata has no EntityDescriptor with an IDPSSODescriptor');
  const services = Array.from(idp.getElementsByTagNameNS(MD, 'SingleSignOnService'));
  const pick = (binding: string) => services.find((s) => s.getAttribute('Binding') === binding);
  const ssoUrl = (pick(REDIRECT) ?? pick(POST))?.getAttribute('Location') ?? '';
  if (!/^https?:\/\//i.test(ssoUrl)) throw invalid('the metadata names no SingleSignOnService location');
  const certificates: string[] = [];
  for (const kd of Array.from(idp.getElementsByTagNameNS(MD, 'KeyDescriptor'))) {
    const use = kd.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const c of Array.from(kd.getElementsByTagNameNS(DS, 'X509Certificate'))) {
      const b64 = (c.textContent ?? '').replace(/\s+/g, '');
      if (b64 && !certificates.includes(b64)) certificates.push(b64);
    }
  }
  if (certificates.length === 0) throw invalid('the metadata carries no signing certificate');
  return { entityId, ssoUrl, certificates };
}

const invalid = (why: string) => new SsoError('SSO_CONNECTION_INVALID', `SAML metadata: ${why}`);
