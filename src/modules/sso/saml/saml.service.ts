import type { Profile, SAML, SamlConfig } from '@node-saml/node-saml';
import { lazyImport } from '../../../platform/lazy-import.js';
import type { WithTenant } from '../../../platform/tenancy/with-tenant.js';
import { PendingRequestCache, REQUEST_TTL_MS } from './saml-cache.js';
import {
  CLOCK_SKEW_MS,
  checkAssertion,
  checkResponseEnvelope,
  emailOf,
  groupsOf,
  refuseDoctype,
} from './saml-checks.js';
import { SamlError, connectionNotFound, refused } from './saml.errors.js';
import { deletePendingRequest, purgeExpired, recordAssertion } from './saml.repository.js';
import type { SsoFlowStart } from '../sso.contract.js';
import type { SamlConnection, SamlConnectionSource, SamlProfile, SamlSignIn } from './saml.types.js';

/** The SAML library (and its XML signature stack) loads with the first SAML connection used. */
const nodeSaml = lazyImport(() => import('@node-saml/node-saml'));

export interface SamlServiceDeps {
  readonly connections: SamlConnectionSource;
  readonly withTenant: WithTenant;
  /** The core's flow store and JIT provisioning + session. */
  readonly signIn: SamlSignIn;
  /** The session cookie for a new session's token, living until the session's absolute expiry. */
  readonly sessionCookie: (token: string, until: Date) => string;
  /** The public origin of this service (PUBLIC_URL): the SP's URLs are built on it. */
  readonly publicUrl: string;
  readonly now?: () => number;
}

export const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The largest SAMLResponse accepted (base64); IdP responses are a few kilobytes. */
export const MAX_RESPONSE_LENGTH = 256 * 1024;

/** A same-origin path to return to after sign-in; anything else (another origin, `//x`, `/\x`) is `/`. */
export function safeReturnTo(raw: string | null | undefined): string {
  if (!raw || raw.length > 2048 || !raw.startsWith('/') || raw.includes('\\')) return '/';
  if ([...raw].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) return '/';
  if (raw.startsWith('//')) return '/';
  const base = 'http://same.invalid';
  const url = new URL(raw, base);
  return url.origin === base ? `${url.pathname}${url.search}${url.hash}` : '/';
}

export interface SamlService {
  readonly urls: (connectionId: string) => { entityId: string; acsUrl: string };
  /** SP-initiated: the IdP URL carrying a deflated, recorded AuthnRequest (RelayState: the flow id). */
  startSignIn(
    connection: SamlConnection,
    flow: Pick<SsoFlowStart, 'flowId' | 'returnTo'>,
  ): Promise<{ redirectUrl: string }>;
  /** The SP metadata of one connection (404 as for an unknown one when it is inactive). */
  metadata(connectionId: string): Promise<string>;
  /** Verifies a posted response and completes the sign-in: the cookie to set and where to send the browser. */
  consume(
    connectionId: string,
    form: { SAMLResponse: string; RelayState?: string | undefined },
    /** `browserToken`: the flow cookie of the posting browser (an SP-initiated flow needs its own). */
    meta: { ip: string; userAgent: string | null; browserToken?: string | null },
  ): Promise<{ setCookie: string; redirectTo: string; profile: SamlProfile; userId: string }>;
}

export function createSamlService(deps: SamlServiceDeps): SamlService {
  const now = deps.now ?? Date.now;
  const base = deps.publicUrl.replace(/\/+$/, '');
  const urls = (connectionId: string) => ({
    // As the SSO core shows it to the organization's administrator (connections.service.ts).
    entityId: `${base}/v1/auth/sso/saml/${connectionId}`,
    acsUrl: `${base}/v1/auth/sso/saml/${connectionId}/acs`,
  });

  const activeConnection = async (connectionId: string): Promise<SamlConnection> => {
    if (!UUID.test(connectionId)) throw connectionNotFound();
    const c = await deps.connections.findById(connectionId);
    if (!c || !c.active || c.id !== connectionId) throw connectionNotFound();
    return c;
  };

  const samlFor = async (c: SamlConnection, cache: PendingRequestCache): Promise<SAML> => {
    const { SAML, ValidateInResponseTo } = await nodeSaml();
    const { entityId, acsUrl } = urls(c.id);
    const config: SamlConfig = {
      issuer: entityId,
      audience: entityId,
      callbackUrl: acsUrl,
      entryPoint: c.idpSsoUrl ?? undefined,
      // The stored certificates only; a certificate inside the response is never used.
      idpCert: c.idpCertificates.length > 0 ? [...c.idpCertificates] : ['-'],
      wantAssertionsSigned: c.wantAssertionsSigned,
      wantAuthnResponseSigned: c.wantResponseSigned,
      acceptedClockSkewMs: CLOCK_SKEW_MS,
      identifierFormat: NAMEID_EMAIL,
      disableRequestedAuthnContext: true,
      validateInResponseTo: c.allowIdpInitiated
        ? ValidateInResponseTo.ifPresent
        : ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: REQUEST_TTL_MS,
      cacheProvider: cache,
      signatureAlgorithm: 'sha256',
    };
    return new SAML(config);
  };

  return {
    urls,

    async startSignIn(connection, flow) {
      if (!connection.idpSsoUrl || connection.idpCertificates.length === 0) {
        throw new SamlError(
          'SAML_CONNECTION_INCOMPLETE',
          'The SAML connection has no IdP URL or certificate',
        );
      }
      const cache = new PendingRequestCache(deps.withTenant, connection.organizationId, connection.id, {
        flowId: flow.flowId,
        returnTo: safeReturnTo(flow.returnTo),
      });
      const redirectUrl = await (
        await samlFor(connection, cache)
      ).getAuthorizeUrlAsync(flow.flowId, undefined, {});
      return { redirectUrl };
    },

    async metadata(connectionId) {
      const c = await activeConnection(connectionId);
      const cache = new PendingRequestCache(deps.withTenant, c.organizationId, c.id);
      return (await samlFor(c, cache)).generateServiceProviderMetadata(null, null);
    },

    async consume(connectionId, form, meta) {
      const c = await activeConnection(connectionId);
      const org = c.organizationId;
      if (c.idpCertificates.length === 0) throw refused('signature');
      if (form.SAMLResponse.length > MAX_RESPONSE_LENGTH) throw refused('malformed');
      refuseDoctype(form.SAMLResponse);
      const { acsUrl } = urls(c.id);
      const cache = new PendingRequestCache(deps.withTenant, org, c.id);

      let profile: Profile;
      try {
        const result = await (
          await samlFor(c, cache)
        ).validatePostResponseAsync({ SAMLResponse: form.SAMLResponse });
        if (!result.profile) throw refused('status');
        profile = result.profile;
      } catch (err) {
        if (err instanceof SamlError) throw err;
        const reason = classify(err);
        // node-saml refuses a response without InResponseTo when IdP-initiated sign-in is off.
        const idpInitiated = reason === 'in_response_to' && /missing/i.test((err as Error).message);
        throw refused(idpInitiated ? 'idp_initiated' : reason);
      }
      const responseInResponseTo = await checkResponseEnvelope(profile.getSamlResponseXml?.() ?? '', acsUrl);
      const facts = checkAssertion(profile, responseInResponseTo, {
        acsUrl,
        idpEntityId: c.idpEntityId,
        nowMs: now(),
      });
      if (facts.inResponseTo === null && !c.allowIdpInitiated) throw refused('idp_initiated');
      const email = emailOf(profile, c.emailAttribute);

      // One transaction: the request consumed (exactly once), the assertion id recorded (exactly once).
      const pending = await deps.withTenant(org, async (db) => {
        await purgeExpired(db, org);
        let row = null as Awaited<ReturnType<typeof deletePendingRequest>> | null;
        if (facts.inResponseTo !== null) {
          row = cache.removed ?? (await deletePendingRequest(db, org, c.id, facts.inResponseTo)) ?? null;
          if (!row || row.request_id !== facts.inResponseTo) throw refused('in_response_to');
          if (row.created_at.getTime() + REQUEST_TTL_MS < now()) throw refused('in_response_to');
          if ((form.RelayState ?? null) !== row.flow_id) throw refused('relay_state');
        }
        const fresh = await recordAssertion(db, org, {
          assertionId: facts.assertionId,
          connectionId: c.id,
          expiresAt: facts.validUntil,
        });
        if (!fresh) throw refused('replay');
        return row;
      });

      const samlProfile: SamlProfile = {
        connectionId: c.id,
        organizationId: org,
        issuer: facts.issuer,
        subject: profile.nameID,
        nameIdFormat: profile.nameIDFormat ?? null,
        email,
        // The connection's IdP vouches for the address: a signed assertion from the IdP the organization
        // configured (the core still accepts only addresses of the organization's verified domains).
        emailVerified: true,
        groups: groupsOf(profile, c.groupsAttribute),
        ...(facts.sessionNotOnOrAfter ? { sessionNotOnOrAfter: facts.sessionNotOnOrAfter } : {}),
        sessionIndex: profile.sessionIndex ?? null,
      };
      // SP-initiated: the core's flow (RelayState) is taken once, must be this connection's, and must
      // have been started by this browser (its flow cookie): no login CSRF with someone else's response.
      let returnTo = safeReturnTo(form.RelayState);
      if (pending) {
        const flow = await deps.signIn.consumeFlow(pending.flow_id ?? '', meta.browserToken ?? null);
        if (!flow || flow.connectionId !== c.id) throw refused('relay_state');
        returnTo = safeReturnTo(flow.returnTo);
      }
      const result = await deps.signIn.complete(samlProfile, { ip: meta.ip, userAgent: meta.userAgent });
      const setCookie = deps.sessionCookie(result.token, result.absoluteExpiresAt);
      return { setCookie, redirectTo: returnTo, profile: samlProfile, userId: result.userId };
    },
  };
}

/** node-saml's error messages, sorted into the refusal reasons logged (never sent). */
function classify(err: unknown): Parameters<typeof refused>[0] {
  const m = err instanceof Error ? err.message : '';
  if (/InResponseTo/i.test(m)) return 'in_response_to';
  if (/signature/i.test(m)) return 'signature';
  if (/audience/i.test(m)) return 'audience';
  if (/not yet valid|expired|subject confirmation/i.test(m)) return 'time';
  if (/status|provider returned/i.test(m)) return 'status';
  return 'malformed';
}
