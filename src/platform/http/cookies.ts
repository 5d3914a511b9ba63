/**
 * Minimal Cookie / Set-Cookie handling (RFC 6265), enough for the session cookie: no dependency, no
 * signing (session tokens are opaque random values looked up by hash, so there is nothing to sign).
 */

/** A cookie name: an RFC 6265 token. */
const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A cookie value: cookie-octets (no space, quote, comma, semicolon or backslash; printable ASCII). */
const VALUE = /^[!#-+\--:<-[\]-~]*$/;

/**
 * Parses a `Cookie` request header into name → value. The first occurrence of a name wins (browsers
 * send the most specific path first); malformed pairs are skipped; a value wrapped in double quotes is
 * unwrapped; values are NOT percent-decoded (callers validate their own format).
 */
export function parseCookies(header: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text.length > 16_384) return out;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!NAME.test(name) || !VALUE.test(value) || out.has(name)) continue;
    out.set(name, value);
  }
  return out;
}

/**
 * The value of cookie `name` in a `Cookie` request header: exactly `parseCookies(header).get(name)` (the
 * first well-formed occurrence, unquoted, not percent-decoded), without building the whole map. Read on
 * every request by the session check.
 */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined || !NAME.test(name)) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (text.length > 16_384) return undefined;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (VALUE.test(value)) return value;
  }
  return undefined;
}

export interface CookieOptions {
  readonly path?: string;
  readonly domain?: string;
  /** Seconds; 0 deletes the cookie. Omitted: a browser-session cookie. */
  readonly maxAge?: number;
  readonly expires?: Date;
  readonly httpOnly?: boolean;
  readonly secure?: boolean;
  readonly sameSite?: 'Strict' | 'Lax' | 'None';
}

/**
 * A cookie path as the browser addresses the route: `path` (a server route, `/v1/…`) under the public URL's
 * path, so a deployment behind a proxy under a prefix (`PUBLIC_URL=https://host/app`: the browser asks for
 * `/app/v1/…`) still gets the cookie sent back.
 */
export const cookiePathUnder = (publicUrl: string, path: string): string =>
  `${new URL(publicUrl).pathname.replace(/\/+$/, '')}${path}`;

/**
 * Serializes one `Set-Cookie` header value. Throws a TypeError for a name or value that is not
 * representable without encoding (callers pass base64url tokens), or a bad attribute.
 */
export function serializeCookie(name: string, value: string, opts: CookieOptions = {}): string {
  if (!NAME.test(name)) throw new TypeError(`invalid cookie name ${JSON.stringify(name)}`);
  if (!VALUE.test(value)) throw new TypeError('invalid cookie value');
  let out = `${name}=${value}`;
  if (opts.maxAge !== undefined) {
    if (!Number.isInteger(opts.maxAge) || opts.maxAge < 0)
      throw new TypeError('maxAge must be an integer ≥ 0');
    out += `; Max-Age=${opts.maxAge}`;
  }
  if (opts.expires) out += `; Expires=${opts.expires.toUTCString()}`;
  if (opts.domain !== undefined) {
    if (!/^[A-Za-z0-9.-]+$/.test(opts.domain)) throw new TypeError('invalid cookie domain');
    out += `; Domain=${opts.domain}`;
  }
  if (opts.path !== undefined) {
    if (!/^[\x21-\x3a\x3c-\x7e]*$/.test(opts.path)) throw new TypeError('invalid cookie path');
    out += `; Path=${opts.path}`;
  }
  if (opts.httpOnly) out += '; HttpOnly';
  if (opts.secure) out += '; Secure';
  if (opts.sameSite) out += `; SameSite=${opts.sameSite}`;
  return out;
}
