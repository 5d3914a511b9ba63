import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import helmet from 'helmet';
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
function helmetOptions(opts: SecurityHeaderOptions): FastifyHelmetOptions {
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
 * Sets the headers on every response (`@fastify/helmet`, global), and `Cache-Control: no-store` on every
 * response of a route that is not public (its answers are one principal's data) and on any response that
 * sets a cookie. Returns a function that applies the same headers to a raw response written outside the
 * request lifecycle (the framework errors answered before routing).
 */
export async function installSecurityHeaders(
  app: App,
  opts: SecurityHeaderOptions,
): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const options = helmetOptions(opts);
  await app.register(fastifyHelmet, { global: true, ...options });
  app.addHook('onRequest', (request, reply, done) => {
    const auth = request.routeOptions.config.auth;
    if (auth && auth.kind !== 'public') void reply.header('cache-control', 'no-store');
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.hasHeader('set-cookie')) void reply.header('cache-control', 'no-store');
    done(null, payload);
  });
  // The same options for the raw middleware (helmet's ESM and CJS typings are distinct but identical).
  const middleware = helmet(options as Parameters<typeof helmet>[0]);
  return (req, res) => middleware(req, res, () => {});
}
