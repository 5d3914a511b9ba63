import type { IncomingMessage, ServerResponse } from 'node:http';
import type { onRequestHookHandler } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { App } from './app-type.js';

export interface SecurityHeaderOptions {
  /** Send `Strict-Transport-Security` (and `upgrade-insecure-requests`): the site is served over https. */
  readonly hsts: boolean;
}

/** HSTS when the public URL is https, or in production (which is served over https behind its proxy). */
export function securityHeaderOptions(nodeEnv: string, publicUrl: string): SecurityHeaderOptions {
  return { hsts: nodeEnv === 'production' || new URL(publicUrl).protocol === 'https:' };
}

/**
 * The policy of every response. It fits a single-page console built by Vite and served from the same
 * origin (scripts, styles and fonts from 'self', no inline script; QR codes are SVG `data:` images; API
 * calls to 'self') and the Swagger UI at /docs, whose page loads only its own scripts and styles. Nothing
 * may frame the site (`frame-ancestors 'none'` and `X-Frame-Options: DENY`), and URLs, which carry
 * invitation and reset tokens, are never sent as a referrer.
 */
function helmetOptions(opts: SecurityHeaderOptions): HelmetOptions {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'self'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'"],
        'img-src': ["'self'", 'data:'],
        'font-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'object-src': ["'none'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        ...(opts.hsts ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: opts.hsts ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    // The rest are helmet's defaults: nosniff, COOP/CORP same-origin, Origin-Agent-Cluster, no
    // X-Powered-By, X-DNS-Prefetch-Control off, X-Permitted-Cross-Domain-Policies none.
  };
}

/**
 * The header set of {@link helmetOptions}, computed once: helmet writes the same headers for every
 * request (no nonce, nothing read from the request), so its middleware is run a single time against a
 * recording response and the result is reused. Names are lowercase, as Fastify stores reply headers.
 */
export function securityHeaderSet(opts: SecurityHeaderOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  const middleware = helmet(helmetOptions(opts));
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err instanceof Error ? err : new Error('helmet refused the security header options');
  });
  return Object.freeze(headers);
}

/**
 * Sets the security headers on every response from one callback-style `onRequest` hook (a precomputed
 * set: per request it costs a copy, not a run of helmet's middleware), and `Cache-Control: no-store` on
 * every response of a route that is not public (its answers are one principal's data) and on any
 * response that sets a cookie. Errors answered by the error handler keep them (they are reply headers).
 * Returns a function that applies the same headers to a raw response written outside the request
 * lifecycle (the framework errors answered before routing).
 */
export function installSecurityHeaders(
  app: App,
  opts: SecurityHeaderOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const headers = securityHeaderSet(opts);
  const entries = Object.entries(headers);
  const names = entries.map(([name]) => name);
  const values = entries.map(([, value]) => value);
  // A loop over two arrays made once: `reply.headers(object)` takes `Object.keys` of it on every call.
  app.addHook('onRequest', (_request, reply, done) => {
    for (let i = 0; i < names.length; i++) void reply.header(names[i]!, values[i]);
    done();
  });
  // Decided per route when it is registered, not per request (`request.routeOptions` builds an object on
  // each access): a route that is not public gets its own first onRequest hook setting no-store.
  const noStore: onRequestHookHandler = (_request, reply, done) => {
    void reply.header('cache-control', 'no-store');
    done();
  };
  app.addHook('onRoute', (route) => {
    const auth = route.config?.auth;
    if (!auth || auth.kind === 'public') return;
    const existing = route.onRequest;
    route.onRequest = existing ? [noStore, ...[existing].flat()] : noStore;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.hasHeader('set-cookie')) void reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  return (_req, res) => {
    for (const [name, value] of entries) res.setHeader(name, value);
    res.removeHeader('x-powered-by');
  };
}
