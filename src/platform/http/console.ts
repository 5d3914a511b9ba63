import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from './app-type.js';
import { errorBody } from './error-handler.js';

/** The console's build output (web/, `npm run build --prefix web`). */
export const CONSOLE_DIST = fileURLToPath(new URL('../../../web/dist', import.meta.url));

/**
 * Paths that belong to the API and never to the console: the history fallback leaves them to their own
 * routes (or the API's JSON 404), whatever is built.
 */
const RESERVED = ['/v1', '/docs', '/openapi.json', '/.well-known', '/healthz', '/readyz', '/dev', '/assets'];

/** True for a path of the API (or of the console's assets), which the fallback must not answer. */
export function isReservedPath(path: string): boolean {
  return RESERVED.some((p) => path === p || path.startsWith(`${p}/`));
}

/** A path naming a file (`/favicon.ico`, `/x.js`): a missing file is a 404, never the console page. */
const FILE_LIKE = /\/[^/]*\.[A-Za-z0-9]+$/;

export interface ConsoleOptions {
  /** The public URL: its path (`https://host/app` → `/app/`) becomes the page's `<base href>`. */
  readonly publicUrl: string;
  /** The built console (default {@link CONSOLE_DIST}). */
  readonly dist?: string;
}

const escapeAttribute = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** index.html with `<base href>` set to the public URL's path, so relative assets and routes resolve. */
export function consoleIndexHtml(html: string, publicUrl: string): string {
  const prefix = new URL(publicUrl).pathname.replace(/\/+$/, '');
  const base = `<base href="${escapeAttribute(`${prefix}/`)}" />`;
  if (!/<base href="[^"]*"\s*\/?>/.test(html)) throw new Error('console index.html has no <base href>');
  return html.replace(/<base href="[^"]*"\s*\/?>/, base);
}

const PUBLIC = { auth: { kind: 'public', reason: 'web console (static files)' } } as const;

/**
 * The web console on the API's own origin: `/assets/*` (content-hashed, cached for a year) and, for every
 * other GET that is not an API path, the console's index.html (history fallback: `/`, `/sign-in`,
 * `/verify-email?token=…`, `/o/acme/projects`…). API paths (`/v1`, `/docs`, `/openapi.json`,
 * `/.well-known`, `/healthz`, `/readyz`, `/dev/`) keep their routes and their JSON 404. Without a build,
 * console paths answer 503 `CONSOLE_NOT_BUILT`.
 */
export async function registerConsole(app: App, opts: ConsoleOptions): Promise<void> {
  const dist = opts.dist ?? CONSOLE_DIST;
  const indexFile = join(dist, 'index.html');
  const built = existsSync(indexFile);
  const index = built ? consoleIndexHtml(readFileSync(indexFile, 'utf8'), opts.publicUrl) : undefined;
  if (built) {
    // `serve: false`: only `reply.sendFile` (path checks, ranges, ETag); the routes are declared here.
    await app.register(fastifyStatic, { root: join(dist, 'assets'), serve: false });
  }

  app.get(
    '/assets/*',
    { config: PUBLIC, schema: { hide: true } },
    (request: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
      if (!built) return reply.callNotFound();
      return reply.sendFile(request.params['*'], { immutable: true, maxAge: '365d' });
    },
  );

  const page = (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    if (isReservedPath(path) || FILE_LIKE.test(path)) return reply.callNotFound();
    if (!index) {
      return reply
        .status(503)
        .send(
          errorBody(
            'CONSOLE_NOT_BUILT',
            'the web console is not built: run `npm run build --prefix web`, then restart',
          ),
        );
    }
    return reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  app.get('/', { config: PUBLIC, schema: { hide: true } }, page);
  app.get('/*', { config: PUBLIC, schema: { hide: true } }, page);
}
