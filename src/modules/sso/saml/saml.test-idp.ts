import { randomUUID } from 'node:crypto';
import { generate } from 'selfsigned';
import { signXml } from '@node-saml/node-saml/lib/xml.js';

/**
 * A throwaway SAML identity provider for tests: a key and certificate from `selfsigned`, and responses
 * built from a template and signed with node-saml's own signer (xml-crypto underneath). Each option
 * changes one thing, so every refusal test differs from the accepted response in exactly what it names.
 */
export interface TestIdpKeys {
  readonly privateKey: string;
  readonly cert: string;
}

export async function makeIdpKeys(cn = 'idp.example.test'): Promise<TestIdpKeys> {
  const pems = await generate([{ name: 'commonName', value: cn }], { keySize: 2048, algorithm: 'sha256' });
  return { privateKey: pems.private, cert: pems.cert };
}

export interface ResponseOptions {
  readonly keys: TestIdpKeys;
  readonly acsUrl: string;
  readonly audience: string;
  readonly issuer?: string;
  readonly inResponseTo?: string | null;
  readonly nameId?: string;
  readonly nameIdFormat?: string;
  readonly attributes?: Record<string, string | string[]>;
  readonly recipient?: string;
  readonly destination?: string | null;
  readonly notBefore?: Date;
  readonly notOnOrAfter?: Date;
  readonly sessionNotOnOrAfter?: Date;
  readonly assertionId?: string;
  readonly signResponse?: boolean;
  readonly signAssertion?: boolean;
  readonly status?: string;
}

const iso = (d: Date) => d.toISOString();
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

export const IDP_ENTITY_ID = 'https://idp.example.test/saml';

/** The assertion element alone (unsigned). */
export function assertionXml(o: ResponseOptions): string {
  const now = Date.now();
  const notBefore = o.notBefore ?? new Date(now - 30_000);
  const notOnOrAfter = o.notOnOrAfter ?? new Date(now + 5 * 60_000);
  const irt = o.inResponseTo ? ` InResponseTo="${esc(o.inResponseTo)}"` : '';
  const attrs = Object.entries(o.attributes ?? {})
    .map(
      ([name, v]) =>
        `<saml:Attribute Name="${esc(name)}">${(Array.isArray(v) ? v : [v])
          .map((x) => `<saml:AttributeValue>${esc(x)}</saml:AttributeValue>`)
          .join('')}</saml:Attribute>`,
    )
    .join('');
  const session = o.sessionNotOnOrAfter ? ` SessionNotOnOrAfter="${iso(o.sessionNotOnOrAfter)}"` : '';
  return (
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${o.assertionId ?? `_a${randomUUID()}`}" ` +
    `Version="2.0" IssueInstant="${iso(new Date(now))}">` +
    `<saml:Issuer>${esc(o.issuer ?? IDP_ENTITY_ID)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${o.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'}">` +
    `${o.nameId ?? 'ada@acme.example'}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData NotOnOrAfter="${iso(notOnOrAfter)}" Recipient="${esc(o.recipient ?? o.acsUrl)}"${irt}/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${iso(notBefore)}" NotOnOrAfter="${iso(notOnOrAfter)}">` +
    `<saml:AudienceRestriction><saml:Audience>${esc(o.audience)}</saml:Audience></saml:AudienceRestriction>` +
    `</saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${iso(new Date(now))}" SessionIndex="_s1"${session}>` +
    `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport` +
    `</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    (attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : '') +
    `</saml:Assertion>`
  );
}

/** Signs the (first) assertion of `xml`: the signature placed after its Issuer, as IdPs do. */
export function signAssertion(xml: string, keys: TestIdpKeys): string {
  return signXml(
    xml,
    "//*[local-name(.)='Assertion']",
    { reference: "//*[local-name(.)='Assertion']/*[local-name(.)='Issuer']", action: 'after' },
    {
      privateKey: keys.privateKey,
      publicCert: keys.cert,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
    },
  );
}

/** Signs the response element. */
export function signResponse(xml: string, keys: TestIdpKeys): string {
  return signXml(
    xml,
    "/*[local-name(.)='Response']",
    { reference: "/*[local-name(.)='Response']/*[local-name(.)='Issuer']", action: 'after' },
    {
      privateKey: keys.privateKey,
      publicCert: keys.cert,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
    },
  );
}

/** Wraps an assertion (any XML) in a Response. */
export function wrapResponse(inner: string, o: ResponseOptions): string {
  const irt = o.inResponseTo ? ` InResponseTo="${esc(o.inResponseTo)}"` : '';
  const dest = o.destination === null ? '' : ` Destination="${esc(o.destination ?? o.acsUrl)}"`;
  return (
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ` +
    `xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r${randomUUID()}" Version="2.0" ` +
    `IssueInstant="${iso(new Date())}"${dest}${irt}>` +
    `<saml:Issuer>${esc(o.issuer ?? IDP_ENTITY_ID)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="${o.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success'}"/></samlp:Status>` +
    inner +
    `</samlp:Response>`
  );
}

/** A complete response, signed as the options say (by default: the assertion only). */
export function buildResponseXml(o: ResponseOptions): string {
  let assertion = assertionXml(o);
  if (o.signAssertion ?? true) assertion = signAssertion(assertion, o.keys);
  let xml = wrapResponse(assertion, o);
  if (o.signResponse) xml = signResponse(xml, o.keys);
  return xml;
}

export const b64 = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');
