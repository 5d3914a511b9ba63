import { createAddressPolicy } from '../webhooks/address-policy.js';
import { guardedFetch } from './guarded-fetch.js';
import { AddressRefusedError } from '../webhooks/webhook-http.js';
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import * as client from 'openid-client';
import type { SsoConnectionForSignIn, SsoFlowStart, SsoProfile, SsoProtocol } from './sso.contract.js';
import { SsoError } from './sso.errors.js';

export interface OidcProtocolOptions {
  /** The API's public origin: the redirect URI is `<publicUrl>/v1/auth/sso/oidc/callback`. */
  readonly publicUrl: string;
  /** Allows `http://` issuers (local development and tests only; never in production). */
  readonly allowHttpIssuers?: boolean;
  /** Discovery and token request timeout (default 10 s). */
  readonly timeoutSeconds?: number;
  /** How long a connection's discovered configuration is reused (default 10 minutes). */
  readonly discoveryTtlMs?: number;
}

/** At most this many discovered configurations are kept (least recently used dropped first). */
export const OIDC_DISCOVERY_CACHE_MAX = 500;

export const OIDC_CALLBACK_PATH = '/v1/auth/sso/oidc/callback';

/** What the IdP's discovery document says, for the "test connection" report. */
export interface OidcDiscoveryReport {
  issuer: string;
  authorizationEndpoint: string | null;
  tokenEndpoint: string | null;
  jwksUri: string | null;
  scopesSupported: string[];
  idTokenSigningAlgs: string[];
}

/** The issuer and the endpoints its discovery names: public addresses only (SSRF). */
const ssrfPolicy = createAddressPolicy();

/**
 * OIDC relying party (openid-client): authorization code flow with PKCE (S256), state and nonce. The
 * library validates the ID token (signature against the IdP's JWKS, `alg` the expected one — never
 * `none` — issuer, audience, nonce, expiry) and the authorization response (state, `iss` when the IdP
 * sends it); this module turns the verified claims into an `SsoProfile`.
 */
export function createOidcProtocol(opts: OidcProtocolOptions) {
  const redirectUri = `${opts.publicUrl.replace(/\/+$/, '')}${OIDC_CALLBACK_PATH}`;
  const timeout = opts.timeoutSeconds ?? 10;

  async function configure(issuer: string, clientId: string, secret: string | null) {
    let url: URL;
    try {
      url = new URL(issuer);
    } catch {
      throw new SsoError('SSO_CONNECTION_INVALID', 'issuer must be an absolute URL');
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && opts.allowHttpIssuers)) {
      throw new SsoError('SSO_CONNECTION_INVALID', 'issuer must be an https:// URL');
    }
    let config: client.Configuration;
    try {
      config = await client.discovery(
        url,
        clientId,
        { redirect_uris: [redirectUri], response_types: ['code'], id_token_signed_response_alg: 'RS256' },
        secret ? client.ClientSecretPost(secret) : client.None(),
        {
          timeout,
          // The ID token's signature is checked against the IdP's JWKS even though it came straight from
          // the token endpoint (the library skips that by default, as OIDC Core 3.1.3.7 allows over TLS).
          execute: [
            client.enableNonRepudiationChecks,
            ...(opts.allowHttpIssuers ? [client.allowInsecureRequests] : []),
          ],
          // Public addresses only (SSRF), except with http issuers allowed (development and tests).
          ...(opts.allowHttpIssuers ? {} : { [client.customFetch]: guardedFetch(ssrfPolicy) }),
        },
      );
    } catch (err) {
      throw new SsoError('SSO_DISCOVERY_FAILED', `OIDC discovery of ${issuer} failed: ${describe(err)}`);
    }
    checkEndpoints(config.serverMetadata(), opts.allowHttpIssuers === true);
    return config;
  }

  /**
   * Discovered configurations per connection, reused by its sign-ins (a start and its callback, and the
   * next sign-ins) instead of a discovery each time. The key names everything the configuration is built
   * from: the connection, its issuer, client id and a hash of its secret, so a changed setting never meets
   * an old configuration. A failed discovery is not kept.
   */
  const discovered = new LRUCache<string, client.Configuration>({
    max: OIDC_DISCOVERY_CACHE_MAX,
    ttl: opts.discoveryTtlMs ?? 10 * 60_000,
  });

  async function configFor(connection: SsoConnectionForSignIn) {
    const { issuer, clientId } = connection.oidc;
    if (!issuer || !clientId) throw new SsoError('SSO_NOT_CONFIGURED', 'this connection has no issuer');
    const secret = await connection.openClientSecret();
    const secretHash = createHash('sha256')
      .update(secret ?? '')
      .digest('base64url');
    const key = JSON.stringify([connection.id, issuer, clientId, secret === null ? null : secretHash]);
    const hit = discovered.get(key);
    if (hit) return hit;
    const config = await configure(issuer, clientId, secret);
    discovered.set(key, config);
    return config;
  }

  /** Drops a connection's discovered configurations (it was updated or deleted on this instance). */
  function forget(connectionId: string): void {
    const prefix = JSON.stringify([connectionId]).slice(0, -1) + ',';
    for (const key of [...discovered.keys()]) if (key.startsWith(prefix)) discovered.delete(key);
  }

  const protocol: SsoProtocol = {
    kind: 'oidc',
    async startSignIn(connection, flow) {
      const config = await configFor(connection);
      const codeChallenge = await client.calculatePKCECodeChallenge(flow.codeVerifier);
      let url: URL;
      try {
        url = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: [...new Set(['openid', ...connection.oidc.scopes])].join(' '),
          state: flow.flowId,
          nonce: flow.nonce,
          code_challenge: codeChallenge,
          code_challenge_method: 'S256',
        });
      } catch (err) {
        // The discovery check above refuses what the library would; this names anything else it refuses.
        throw new SsoError(
          'SSO_DISCOVERY_FAILED',
          `the identity provider's authorization endpoint is unusable: ${describe(err)}`,
        );
      }
      return { redirectUrl: url.href };
    },
  };

  /** Redeems the code of a callback and answers the verified profile. */
  async function finish(
    connection: SsoConnectionForSignIn,
    flow: SsoFlowStart,
    callbackQuery: string,
  ): Promise<SsoProfile> {
    const config = await configFor(connection);
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(config, new URL(`${redirectUri}?${callbackQuery}`), {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.flowId,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      throw new SsoError(
        'SSO_IDP_RESPONSE_INVALID',
        `the identity provider's answer was refused: ${describe(err)}`,
      );
    }
    if (!claims) throw new SsoError('SSO_IDP_RESPONSE_INVALID', 'the identity provider sent no ID token');
    const email = typeof claims.email === 'string' ? claims.email : '';
    const groupsClaim = connection.oidc.groupsClaim;
    const raw = groupsClaim ? claims[groupsClaim] : undefined;
    const groups = Array.isArray(raw)
      ? raw.filter((g): g is string => typeof g === 'string')
      : typeof raw === 'string'
        ? [raw]
        : [];
    return {
      connectionId: connection.id,
      organizationId: connection.organizationId,
      subject: claims.sub,
      email,
      emailVerified: claims.email_verified === true || connection.oidc.trustEmail,
      ...(typeof claims.name === 'string' ? { name: claims.name } : {}),
      groups,
    };
  }

  /** Runs discovery for a "test connection" or a create/update check. */
  async function discover(issuer: string, clientId: string): Promise<OidcDiscoveryReport> {
    const config = await configure(issuer, clientId, null);
    const m = config.serverMetadata();
    return {
      issuer: m.issuer,
      authorizationEndpoint: m.authorization_endpoint ?? null,
      tokenEndpoint: m.token_endpoint ?? null,
      jwksUri: m.jwks_uri ?? null,
      scopesSupported: m.scopes_supported ?? [],
      idTokenSigningAlgs: m.id_token_signing_alg_values_supported ?? [],
    };
  }

  return { protocol, finish, discover, forget, redirectUri };
}

/** The endpoints of a discovery document this relying party sends the browser to, or calls itself. */
const ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint'] as const;
/** Without these the authorization code flow cannot run. */
const REQUIRED_ENDPOINTS = new Set<string>(['authorization_endpoint', 'token_endpoint']);

/**
 * The IdP's discovery document names the URLs the browser is sent to (authorization) and the server
 * calls (token, JWKS, userinfo): each must be an https:// URL (http:// only where http issuers are
 * allowed). The organization's admin controls the document: a `javascript:` or `data:` authorization
 * endpoint would otherwise be accepted, then make every sign-in fail.
 */
export function checkEndpoints(
  metadata: Readonly<Pick<client.ServerMetadata, (typeof ENDPOINTS)[number]>>,
  allowHttp: boolean,
): void {
  for (const name of ENDPOINTS) {
    const value: unknown = metadata[name];
    if (value === undefined || value === null) {
      if (REQUIRED_ENDPOINTS.has(name)) {
        throw new SsoError('SSO_DISCOVERY_FAILED', `the discovery document names no ${name}`, {
          field: name,
        });
      }
      continue;
    }
    let url: URL | null = null;
    try {
      url = typeof value === 'string' ? new URL(value) : null;
    } catch {
      url = null;
    }
    if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && allowHttp))) {
      throw new SsoError(
        'SSO_DISCOVERY_FAILED',
        `the discovery document's ${name} must be an ${allowHttp ? 'http(s)' : 'https'}:// URL`,
        { field: name },
      );
    }
  }
}

/** An error's message without anything of the request (no tokens, no codes). */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  // openid-client wraps what its fetch threw: an address refusal is worth naming.
  if (err.cause instanceof AddressRefusedError) return `refused: ${err.cause.message}`.slice(0, 300);
  const code = (err as Error & { code?: unknown }).code;
  return (typeof code === 'string' ? `${code}: ${err.message}` : err.message).slice(0, 300);
}

export type OidcProtocol = ReturnType<typeof createOidcProtocol>;
