import * as client from 'openid-client';
import type {
  GithubProviderConfig,
  OidcProviderConfig,
  SocialProviderConfig,
} from '../../platform/config-social.js';
import { SocialError } from './social.errors.js';

/** What a provider asserted about the person who signed in there. */
export interface ProviderProfile {
  /** The provider's stable id of the account (`sub`; GitHub's numeric user id). */
  readonly subject: string;
  /** The address the provider gave, null when none. */
  readonly email: string | null;
  /** True only when the provider says it verified the address (`email_verified === true`, GitHub's `verified`). */
  readonly emailVerified: boolean;
  readonly name: string | null;
}

/** The checks a start hands to its callback (stored in the flow row). */
export interface FlowChecks {
  readonly state: string;
  readonly codeVerifier: string;
  /** OIDC only. */
  readonly nonce: string | null;
}

export interface SocialProvider {
  readonly id: string;
  readonly label: string;
  /** Where to send the browser to sign in (authorization code + PKCE S256, state, and nonce for OIDC). */
  authorizationUrl(checks: FlowChecks): Promise<URL>;
  /** Redeems the callback (`callbackUrl` with its query) and returns who signed in. */
  complete(callbackUrl: URL, checks: FlowChecks): Promise<ProviderProfile>;
}

const LOCAL = ['localhost', '127.0.0.1', '[::1]'];
/** http:// endpoints are accepted by the configuration only on this machine (a local test server). */
const insecure = (url: string) => new URL(url).protocol === 'http:' && LOCAL.includes(new URL(url).hostname);

/** Microsoft's consumer accounts (outlook.com, …) all sign in from this tenant. */
export const MICROSOFT_CONSUMER_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Microsoft's multi-tenant endpoints (`common`, `organizations`) publish the issuer
 * `https://login.microsoftonline.com/{tenantid}/v2.0`: every ID token's `iss` names the user's own
 * tenant, which its `tid` claim repeats. The token is from the expected issuer when `tid` is a tenant id
 * (a GUID), `iss` is the template with exactly that tid, and the tid is allowed by the configured tenant:
 * any for `common`, not the consumer tenant for `organizations`, only it for `consumers`, itself for a
 * single tenant. (openid-client checks the `{tenantid}` substitution too when discovery ran at
 * login.microsoftonline.com; this check also holds with the issuer overridden.)
 */
export function microsoftIssuerMatches(
  tenant: string,
  issuerTemplate: string,
  claims: { iss?: unknown; tid?: unknown },
): boolean {
  const { iss, tid } = claims;
  if (typeof iss !== 'string' || typeof tid !== 'string' || !GUID.test(tid)) return false;
  const expected = issuerTemplate.includes('{tenantid}')
    ? issuerTemplate.replace('{tenantid}', tid)
    : issuerTemplate;
  if (iss !== expected) return false;
  if (tenant === 'common') return true;
  if (tenant === 'organizations') return tid !== MICROSOFT_CONSUMER_TENANT;
  if (tenant === 'consumers') return tid === MICROSOFT_CONSUMER_TENANT;
  return tid === tenant;
}

const refused = (provider: string, why: string) =>
  new SocialError('SOCIAL_PROVIDER_REFUSED', `the sign-in at ${provider} did not complete: ${why}`);

/** Why openid-client refused (its code and message; never a token or a secret). */
const reasonOf = (err: unknown) =>
  err instanceof Error
    ? `${(err as { code?: string }).code ?? err.name}: ${err.message}`.slice(0, 300)
    : 'failed';

function oidcProvider(cfg: OidcProviderConfig, redirectUri: string): SocialProvider {
  let discovered: Promise<client.Configuration> | undefined;
  const configuration = () => {
    discovered ??= client
      .discovery(new URL(cfg.issuer), cfg.clientId, cfg.clientSecret, undefined, {
        ...(insecure(cfg.issuer) ? { execute: [client.allowInsecureRequests] } : {}),
        timeout: 10,
      })
      .catch((err: unknown) => {
        discovered = undefined; // try again next time
        throw new SocialError(
          'SOCIAL_PROVIDER_UNAVAILABLE',
          `${cfg.label} is not reachable right now (${reasonOf(err)})`,
        );
      });
    return discovered;
  };
  return {
    id: cfg.id,
    label: cfg.label,
    async authorizationUrl(checks) {
      const config = await configuration();
      return client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: cfg.scopes.join(' '),
        state: checks.state,
        nonce: checks.nonce ?? '',
        code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      });
    },
    async complete(callbackUrl, checks) {
      const config = await configuration();
      let claims: client.IDToken | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce ?? undefined,
          idTokenExpected: true,
        });
        claims = tokens.claims();
      } catch (err) {
        throw refused(cfg.label, reasonOf(err));
      }
      if (!claims) throw refused(cfg.label, 'no ID token');
      if (
        cfg.microsoftTenant !== undefined &&
        !microsoftIssuerMatches(cfg.microsoftTenant, config.serverMetadata().issuer, claims)
      ) {
        throw refused(cfg.label, 'the ID token is not from an allowed Microsoft tenant');
      }
      const email = typeof claims.email === 'string' && claims.email ? claims.email : null;
      return {
        subject: claims.sub,
        email,
        emailVerified: email !== null && claims.email_verified === true,
        name: typeof claims.name === 'string' ? claims.name : null,
      };
    },
  };
}

interface GithubEmail {
  email?: unknown;
  primary?: unknown;
  verified?: unknown;
}

function githubProvider(cfg: GithubProviderConfig, redirectUri: string): SocialProvider {
  const config = new client.Configuration(
    {
      issuer: new URL(cfg.authorizationUrl).origin,
      authorization_endpoint: cfg.authorizationUrl,
      token_endpoint: cfg.tokenUrl,
    },
    cfg.clientId,
    cfg.clientSecret,
  );
  if (insecure(cfg.tokenUrl) || insecure(cfg.apiUrl)) client.allowInsecureRequests(config);
  const api = async (accessToken: string, path: string): Promise<unknown> => {
    const headers = new Headers({
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
    });
    const res = await client.fetchProtectedResource(
      config,
      accessToken,
      new URL(`${cfg.apiUrl}${path}`),
      'GET',
      undefined,
      headers,
    );
    if (!res.ok) throw new Error(`GET ${path} answered ${res.status}`);
    return res.json();
  };
  return {
    id: cfg.id,
    label: cfg.label,
    async authorizationUrl(checks) {
      return client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: cfg.scopes.join(' '),
        state: checks.state,
        code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
        allow_signup: 'true',
      });
    },
    async complete(callbackUrl, checks) {
      try {
        const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
        });
        const user = (await api(tokens.access_token, '/user')) as { id?: unknown; name?: unknown };
        if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new Error('no user id');
        const emails = await api(tokens.access_token, '/user/emails');
        const primary = Array.isArray(emails)
          ? (emails as GithubEmail[]).find((e) => e.primary === true && typeof e.email === 'string')
          : undefined;
        return {
          subject: String(user.id),
          email: primary ? (primary.email as string) : null,
          emailVerified: primary?.verified === true,
          name: typeof user.name === 'string' ? user.name : null,
        };
      } catch (err) {
        if (err instanceof SocialError) throw err;
        throw refused(cfg.label, reasonOf(err));
      }
    },
  };
}

/** The configured providers by id, each redirecting back to `<publicUrl>/v1/auth/social/<id>/callback`. */
export function createSocialProviders(
  providers: readonly SocialProviderConfig[],
  publicUrl: string,
): Map<string, SocialProvider> {
  const base = publicUrl.replace(/\/+$/, '');
  return new Map(
    providers.map((p) => {
      const redirectUri = callbackUrlOf(base, p.id);
      return [p.id, p.kind === 'github' ? githubProvider(p, redirectUri) : oidcProvider(p, redirectUri)];
    }),
  );
}

/** The redirect URI to register at a provider (ids are `[a-z0-9:-]`: written as they are, `:` included). */
export const callbackUrlOf = (publicUrl: string, providerId: string) =>
  `${publicUrl.replace(/\/+$/, '')}/v1/auth/social/${providerId}/callback`;
