/** The HTTP server's variables, read by `loadConfig`: HOST, PUBLIC_URL, TRUST_PROXY, BASE_DOMAIN. */
import { isIP } from 'node:net';
import { ConfigError, read, shown } from './config-read.js';

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** What a cookie's `Path` attribute may hold (serializeCookie): printable ASCII but `;`. */
const COOKIE_PATH = /^[\x21-\x3a\x3c-\x7e]*$/;

export function publicUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = read(env, 'PUBLIC_URL');
  if (raw === undefined) return undefined;
  let ok = false;
  try {
    const url = new URL(raw);
    ok = (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    ok = false;
  }
  if (!ok)
    throw new ConfigError('PUBLIC_URL', `PUBLIC_URL must be an http:// or https:// URL (got ${shown(raw)})`);
  // Its path prefixes cookie paths (cookiePathUnder), which cannot hold `;` (the one character a URL's
  // path keeps unencoded that a cookie path refuses): refused here, not as a 500 on every sign-in.
  if (!COOKIE_PATH.test(new URL(raw).pathname))
    throw new ConfigError(
      'PUBLIC_URL',
      `PUBLIC_URL's path must not contain ';' (it is part of cookie paths; got ${shown(raw)})`,
    );
  return raw.replace(/\/+$/, '');
}

export function host(env: NodeJS.ProcessEnv): string {
  const raw = read(env, 'HOST');
  if (raw === undefined) return '0.0.0.0';
  if (isIP(raw) === 0 && !HOSTNAME.test(raw.toLowerCase())) {
    throw new ConfigError('HOST', `HOST must be an IP address or a host name (got ${shown(raw)})`);
  }
  return raw;
}

export function trustProxy(env: NodeJS.ProcessEnv): false | string[] {
  const raw = read(env, 'TRUST_PROXY');
  if (raw === undefined || raw === 'false') return false;
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries) {
    const [addr = '', prefix, extra] = entry.split('/');
    const family = isIP(addr);
    const maxPrefix = family === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(
        'TRUST_PROXY',
        `TRUST_PROXY must be "false" or a comma-separated list of IP addresses or CIDRs (bad entry ${shown(entry)})`,
      );
    }
  }
  return entries.length > 0 ? entries : false;
}

export function baseDomain(env: NodeJS.ProcessEnv): string | undefined {
  const raw = read(env, 'BASE_DOMAIN');
  if (raw === undefined) return undefined;
  if (!HOSTNAME.test(raw)) {
    throw new ConfigError(
      'BASE_DOMAIN',
      `BASE_DOMAIN must be a lowercase host name like example.com (got ${shown(raw)})`,
    );
  }
  return raw;
}
