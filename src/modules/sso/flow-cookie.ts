import { cookiePathUnder, parseCookies, serializeCookie } from '../../platform/http/cookies.js';
import type { SsoConnectionKind } from './sso.contract.js';
import { FLOW_TTL_MS } from './sso-sign-in.js';

/** The cookie binding a started SSO sign-in to the browser that started it (docs/sso.md, login CSRF). */
export const SSO_FLOW_COOKIE = 'sr_sso';
const PATH = '/v1/auth/sso';

/**
 * The `Set-Cookie` of the flow cookie (HttpOnly, only under `/v1/auth/sso` — under `PUBLIC_URL`'s path, as
 * the browser addresses it — 10 minutes). OIDC returns
 * with a top-level GET: SameSite=Lax is sent. SAML's HTTP-POST binding returns with a cross-site POST,
 * which a Lax cookie never reaches: for SAML the cookie is SameSite=None; Secure (browsers accept a Secure
 * cookie from http://localhost too). It is no session, only proof of which browser started the flow.
 */
export function ssoFlowCookie(
  value: string,
  opts: { kind: SsoConnectionKind | null; secure: boolean; publicUrl: string; clear?: boolean },
): string {
  const crossSitePost = opts.kind === 'saml';
  return serializeCookie(SSO_FLOW_COOKIE, value, {
    path: cookiePathUnder(opts.publicUrl, PATH),
    maxAge: opts.clear ? 0 : Math.floor(FLOW_TTL_MS / 1000),
    httpOnly: true,
    secure: crossSitePost || opts.secure,
    sameSite: crossSitePost ? 'None' : 'Lax',
  });
}

/** The flow cookie's value in a `Cookie` header, or null. */
export const ssoFlowToken = (header: string | string[] | undefined): string | null =>
  parseCookies(header).get(SSO_FLOW_COOKIE) ?? null;
