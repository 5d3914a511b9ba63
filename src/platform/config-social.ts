/**
 * Social sign-in providers (deployment-level, not per organization), read by `loadConfig`. Listed in
 * SOCIAL_PROVIDERS (comma-separated): `google`, `microsoft`, `github` and any number of `oidc:<name>`.
 * Each reads `SOCIAL_<ID>_*` (the id upper-cased, `:` and `-` as `_`): CLIENT_ID and CLIENT_SECRET
 * (required), LABEL, SCOPES, and the endpoints of its preset (see docs/social-sign-in.md). Messages never
 * show a secret.
 */

/** A provider speaking OpenID Connect (discovery at its issuer, an ID token). */
export interface OidcProviderConfig {
  readonly kind: 'oidc';
  readonly id: string;
  readonly label: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
  /** The issuer: discovery at `<issuer>/.well-known/openid-configuration`, ID tokens' `iss`. */
  readonly issuer: string;
  /**
   * Microsoft only: the issuer template's tenant (`common`, `organizations`, `consumers` or a tenant id).
   * With `common` and `organizations` an ID token's `iss` names the user's own tenant (its `tid`).
   */
  readonly microsoftTenant?: string;
}

/** GitHub: OAuth 2.0 (no ID token); the user from `GET /user`, the address from `GET /user/emails`. */
export interface GithubProviderConfig {
  readonly kind: 'github';
  readonly id: 'github';
  readonly label: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
  readonly authorizationUrl: string;
  readonly tokenUrl: string;
  /** The REST API's base (`https://api.github.com`; GitHub Enterprise: `https://host/api/v3`). */
  readonly apiUrl: string;
}

export type SocialProviderConfig = OidcProviderConfig | GithubProviderConfig;

export interface SocialSignInConfig {
  readonly providers: readonly SocialProviderConfig[];
}

type Fail = (variable: string, message: string) => Error;

const GENERIC = /^oidc:([a-z0-9][a-z0-9-]{0,30})$/;
const MICROSOFT_TENANT =
  /^(common|organizations|consumers|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const OIDC_SCOPES = 'openid email profile';

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The environment prefix of a provider id: `oidc:acme-sso` → `SOCIAL_OIDC_ACME_SSO_`. */
export const socialEnvPrefix = (id: string) => `SOCIAL_${id.toUpperCase().replace(/[:-]/g, '_')}_`;

/**
 * An endpoint: https, or http on this machine only (a local test server): the client secret and the
 * authorization code travel to it.
 */
function endpoint(env: NodeJS.ProcessEnv, name: string, fallback: string | undefined, fail: Fail): string {
  const raw = read(env, name) ?? fallback;
  if (raw === undefined) throw fail(name, `${name} is required`);
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  const local = url && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (
    !url ||
    !(url.protocol === 'https:' || (url.protocol === 'http:' && local)) ||
    url.username ||
    url.password ||
    url.hash
  ) {
    throw fail(name, `${name} must be an https:// URL (http:// only for localhost or 127.0.0.1)`);
  }
  return raw.replace(/\/+$/, '');
}

function scopes(env: NodeJS.ProcessEnv, name: string, fallback: string, oidc: boolean, fail: Fail) {
  const list = (read(env, name) ?? fallback).split(/[\s,]+/).filter(Boolean);
  if (list.some((s) => !/^[\x21\x23-\x5b\x5d-\x7e]{1,100}$/.test(s))) {
    throw fail(name, `${name} must be scope names separated by spaces`);
  }
  if (oidc && !list.includes('openid')) throw fail(name, `${name} must include openid`);
  return [...new Set(list)];
}

function provider(env: NodeJS.ProcessEnv, id: string, fail: Fail): SocialProviderConfig {
  const generic = GENERIC.exec(id);
  if (!generic && !['google', 'microsoft', 'github'].includes(id)) {
    throw fail(
      'SOCIAL_PROVIDERS',
      `SOCIAL_PROVIDERS: "${id.slice(0, 40)}" is not google, microsoft, github or oidc:<name> (lowercase letters, digits, dashes)`,
    );
  }
  const p = socialEnvPrefix(id);
  const clientId = read(env, `${p}CLIENT_ID`);
  if (clientId === undefined)
    throw fail(`${p}CLIENT_ID`, `${p}CLIENT_ID is required (${id} is listed in SOCIAL_PROVIDERS)`);
  const clientSecret = read(env, `${p}CLIENT_SECRET`);
  if (clientSecret === undefined)
    throw fail(`${p}CLIENT_SECRET`, `${p}CLIENT_SECRET is required (${id} is listed in SOCIAL_PROVIDERS)`);
  const label = read(env, `${p}LABEL`);
  if (label !== undefined && label.length > 60)
    throw fail(`${p}LABEL`, `${p}LABEL must be at most 60 characters`);
  const common = { clientId, clientSecret };
  if (id === 'github') {
    return {
      kind: 'github',
      id,
      label: label ?? 'GitHub',
      ...common,
      scopes: scopes(env, `${p}SCOPES`, 'read:user user:email', false, fail),
      authorizationUrl: endpoint(
        env,
        `${p}AUTHORIZATION_URL`,
        'https://github.com/login/oauth/authorize',
        fail,
      ),
      tokenUrl: endpoint(env, `${p}TOKEN_URL`, 'https://github.com/login/oauth/access_token', fail),
      apiUrl: endpoint(env, `${p}API_URL`, 'https://api.github.com', fail),
    };
  }
  if (id === 'google') {
    return {
      kind: 'oidc',
      id,
      label: label ?? 'Google',
      ...common,
      scopes: scopes(env, `${p}SCOPES`, OIDC_SCOPES, true, fail),
      issuer: endpoint(env, `${p}ISSUER`, 'https://accounts.google.com', fail),
    };
  }
  if (id === 'microsoft') {
    const tenant = read(env, `${p}TENANT`) ?? 'common';
    if (!MICROSOFT_TENANT.test(tenant)) {
      throw fail(`${p}TENANT`, `${p}TENANT must be common, organizations, consumers or a tenant id (a GUID)`);
    }
    return {
      kind: 'oidc',
      id,
      label: label ?? 'Microsoft',
      ...common,
      scopes: scopes(env, `${p}SCOPES`, OIDC_SCOPES, true, fail),
      issuer: endpoint(env, `${p}ISSUER`, `https://login.microsoftonline.com/${tenant}/v2.0`, fail),
      microsoftTenant: tenant,
    };
  }
  return {
    kind: 'oidc',
    id,
    label: label ?? generic![1]!,
    ...common,
    scopes: scopes(env, `${p}SCOPES`, OIDC_SCOPES, true, fail),
    issuer: endpoint(env, `${p}ISSUER`, undefined, fail),
  };
}

/** Reads SOCIAL_PROVIDERS and each listed provider's variables; no providers without SOCIAL_PROVIDERS. */
export function socialSignInConfig(env: NodeJS.ProcessEnv, fail: Fail): SocialSignInConfig {
  const ids = (read(env, 'SOCIAL_PROVIDERS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (new Set(ids).size !== ids.length)
    throw fail('SOCIAL_PROVIDERS', 'SOCIAL_PROVIDERS lists a provider twice');
  return { providers: ids.map((id) => provider(env, id, fail)) };
}
