import type { FastifyRequest } from 'fastify';
import { AuthError } from './auth.errors.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The origin (`scheme://host[:port]`) of a URL, or null when it is not an http(s) URL. */
export function originOf(value: string): string | null {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : null;
  } catch {
    return null;
  }
}

/** Normalizes the configured allowed origins (the public URL, extra front-end origins). */
export function normalizeOrigins(origins: readonly string[]): string[] {
  return origins.map((o) => {
    const origin = originOf(o);
    if (!origin) throw new TypeError(`allowed origin ${JSON.stringify(o)} is not an http(s) URL`);
    return origin;
  });
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/**
 * Where the request says it comes from: the Origin header exactly as sent (a browser sends the serialized
 * origin, `scheme://host[:port]`; anything else — a path, a trailing slash, userinfo, another case — is
 * not an origin and matches nothing), else the Referer's origin (a Referer is a full URL); null when
 * neither is sent, false when the one sent is not an http(s) origin (`Origin: null` from sandboxed frames…).
 */
function claimedOrigin(request: FastifyRequest): string | null | false {
  const origin = header(request, 'origin');
  if (origin !== undefined) return originOf(origin) === origin ? origin : false;
  const referer = header(request, 'referer');
  if (referer !== undefined) return originOf(referer) ?? false;
  return null;
}

const mismatch = () =>
  new AuthError(
    'CSRF_ORIGIN_MISMATCH',
    'the request origin is not allowed for a cookie-authenticated change',
  );

/**
 * CSRF defence for cookie-authenticated requests: an unsafe method (POST, PUT, PATCH, DELETE…) must
 * carry an `Origin` (or, failing that, a `Referer`) whose origin is one of `allowedOrigins`. Browsers
 * always send `Origin` on cross-site and on same-origin non-GET fetches, so a forged form post from
 * another site is refused; a request with neither header is refused too (fail closed). Safe methods pass.
 *
 * @throws AuthError CSRF_ORIGIN_MISMATCH (403)
 */
export function checkCsrf(request: FastifyRequest, allowedOrigins: readonly string[]): void {
  if (SAFE_METHODS.has(request.method)) return;
  const claimed = claimedOrigin(request);
  if (!claimed || !allowedOrigins.includes(claimed)) throw mismatch();
}

/**
 * The lenient form for public, cookie-less endpoints (login, sign-up, password reset): non-browser
 * clients send no `Origin` and pass, but a browser request from a foreign origin is refused, which stops
 * login CSRF (signing the victim into the attacker's account) and cross-site sign-up spam.
 *
 * @throws AuthError CSRF_ORIGIN_MISMATCH (403)
 */
export function checkCrossSiteRequest(request: FastifyRequest, allowedOrigins: readonly string[]): void {
  if (SAFE_METHODS.has(request.method)) return;
  const claimed = claimedOrigin(request);
  if (claimed === null) return;
  if (claimed === false || !allowedOrigins.includes(claimed)) throw mismatch();
}
