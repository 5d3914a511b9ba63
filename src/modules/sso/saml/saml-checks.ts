import type { Profile } from '@node-saml/node-saml';
import { lazyImport } from '../../../platform/lazy-import.js';
import { refused } from './saml.errors.js';

/** node-saml's XML parser (xml2js, xml-crypto) loads with the first SAML response checked. */
const samlXml = lazyImport(() => import('@node-saml/node-saml/lib/xml.js'));

/**
 * The checks node-saml leaves to its caller, run on what it returns AFTER it verified the signature: the
 * assertion it hands back (`getAssertion()`) is the signed one, parsed from the verified XML, never a
 * sibling of it. See README.md ("What is verified") for the whole list and who checks what.
 */

/** Accepted clock difference with the IdP, both ways, on every time in the response. */
export const CLOCK_SKEW_MS = 60_000;

type Node = Record<string, unknown> & { $?: Record<string, string>; _?: string };
const children = (n: Node | undefined, name: string): Node[] => {
  const v = n?.[name];
  return Array.isArray(v) ? (v as Node[]) : [];
};
const attr = (n: Node | undefined, name: string): string | undefined => n?.$?.[name];
const time = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw refused('malformed');
  return t;
};

export interface AssertionFacts {
  readonly assertionId: string;
  readonly issuer: string;
  /** InResponseTo of the bearer confirmation (signed); null for an IdP-initiated response. */
  readonly inResponseTo: string | null;
  /** Until when the assertion could still pass the time checks: the replay entry lives that long. */
  readonly validUntil: Date;
  readonly sessionNotOnOrAfter: Date | null;
}

export interface Expected {
  readonly acsUrl: string;
  readonly idpEntityId: string | null;
  readonly nowMs: number;
}

/**
 * A SAML response never carries a document type declaration. One is refused before any parser sees the
 * XML: no entity is ever declared, so none can be expanded (billion laughs) or fetched (external entities),
 * whatever a parser down the line would do with it. Checked on the text the parsers read (base64 → UTF-8).
 */
export function refuseDoctype(samlResponse: string): void {
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  if (/<!(DOCTYPE|ENTITY)/i.test(xml)) throw refused('malformed');
}

/** Status Success and Destination (when present) the consumer URL, on the (maybe unsigned) response. */
export async function checkResponseEnvelope(responseXml: string, acsUrl: string): Promise<string | null> {
  const doc = (await (await samlXml()).parseXml2JsFromString(responseXml)) as { Response?: Node };
  const response = doc.Response;
  if (!response) throw refused('malformed');
  const destination = attr(response, 'Destination');
  if (destination !== undefined && destination !== acsUrl) throw refused('destination');
  const code = attr(children(children(response, 'Status')[0], 'StatusCode')[0], 'Value');
  if (code !== 'urn:oasis:names:tc:SAML:2.0:status:Success') throw refused('status');
  return attr(response, 'InResponseTo') ?? null;
}

/**
 * The signed assertion's own checks: Issuer, a bearer SubjectConfirmation whose Recipient is the consumer
 * URL and whose times hold, Conditions with a NotOnOrAfter that holds, and InResponseTo agreeing with the
 * response's. node-saml checks the audience and the Conditions times too; these are checked again here
 * because node-saml skips the subject confirmation entirely for a response without InResponseTo.
 */
export function checkAssertion(
  profile: Profile,
  responseInResponseTo: string | null,
  expected: Expected,
): AssertionFacts {
  const assertion = (profile.getAssertion?.() as { Assertion?: Node } | undefined)?.Assertion;
  if (!assertion) throw refused('malformed');
  const assertionId = attr(assertion, 'ID');
  if (!assertionId || assertionId.length > 256) throw refused('malformed');

  const issuer = children(assertion, 'Issuer')[0]?._?.trim();
  if (!issuer) throw refused('issuer');
  if (expected.idpEntityId !== null && issuer !== expected.idpEntityId) throw refused('issuer');

  const now = expected.nowMs;
  const conditions = children(assertion, 'Conditions');
  if (conditions.length !== 1) throw refused('malformed');
  const condNotBefore = time(attr(conditions[0], 'NotBefore'));
  const condNotOnOrAfter = time(attr(conditions[0], 'NotOnOrAfter'));
  if (condNotOnOrAfter === undefined) throw refused('time');
  if (now + CLOCK_SKEW_MS < (condNotBefore ?? -Infinity)) throw refused('time');
  if (now - CLOCK_SKEW_MS >= condNotOnOrAfter) throw refused('time');

  const subject = children(assertion, 'Subject');
  if (subject.length !== 1) throw refused('malformed');
  const bearer = children(subject[0], 'SubjectConfirmation').filter(
    (c) => attr(c, 'Method') === 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
  );
  const data = bearer.flatMap((c) => children(c, 'SubjectConfirmationData'));
  if (data.length === 0) throw refused('recipient');
  // Every bearer confirmation must be for us: one naming another recipient is not skipped but refused.
  if (data.some((d) => attr(d, 'Recipient') !== expected.acsUrl)) throw refused('recipient');
  let confirmedUntil = 0;
  for (const d of data) {
    const notBefore = time(attr(d, 'NotBefore'));
    const notOnOrAfter = time(attr(d, 'NotOnOrAfter'));
    if (notOnOrAfter === undefined) throw refused('time');
    if (now + CLOCK_SKEW_MS < (notBefore ?? -Infinity)) throw refused('time');
    if (now - CLOCK_SKEW_MS >= notOnOrAfter) throw refused('time');
    confirmedUntil = Math.max(confirmedUntil, notOnOrAfter);
  }
  const confirmedTo = [...new Set(data.map((d) => attr(d, 'InResponseTo') ?? null))];
  if (confirmedTo.length !== 1) throw refused('in_response_to');
  const inResponseTo = confirmedTo[0] ?? null;
  // The response's InResponseTo (unsigned when only the assertion is signed) must say the same as the
  // signed confirmation: neither may claim a request the other does not.
  if (inResponseTo !== responseInResponseTo) throw refused('in_response_to');

  const authn = children(assertion, 'AuthnStatement')[0];
  const sessionEnd = time(attr(authn, 'SessionNotOnOrAfter'));
  return {
    assertionId,
    issuer,
    inResponseTo,
    validUntil: new Date(Math.max(condNotOnOrAfter, confirmedUntil) + CLOCK_SKEW_MS),
    sessionNotOnOrAfter: sessionEnd === undefined ? null : new Date(sessionEnd),
  };
}

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

/** The one string value of an attribute (refused when it has several, or markup). */
function singleValue(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** The email address: the configured attribute, else the NameID in emailAddress format. Lowercased. */
export function emailOf(profile: Profile, emailAttribute: string | null): string {
  const attributes = (profile.attributes ?? {}) as Record<string, unknown>;
  let raw: string | undefined;
  if (emailAttribute !== null) raw = singleValue(attributes[emailAttribute]);
  else if (profile.nameIDFormat === EMAIL_FORMAT) raw = profile.nameID;
  const email = raw?.trim().toLowerCase();
  if (!email || email.length > 320 || !EMAIL.test(email)) throw refused('no_email');
  return email;
}

/** The groups from the configured attribute (strings only; at most 200, each at most 256 characters). */
export function groupsOf(profile: Profile, groupsAttribute: string | null): string[] {
  if (groupsAttribute === null) return [];
  const v = ((profile.attributes ?? {}) as Record<string, unknown>)[groupsAttribute];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list
    .filter((g): g is string => typeof g === 'string' && g.length > 0 && g.length <= 256)
    .slice(0, 200);
}
