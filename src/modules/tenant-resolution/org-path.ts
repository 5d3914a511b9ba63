import type { IncomingMessage } from 'node:http';

const ORG_PATH = /^\/v1\/orgs\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\/[^?]*)?(\?.*)?$/;
/** The slug a rewritten path named, on the request under a module-private symbol (cheaper than a WeakMap
 *  entry per request). */
const SLUG = Symbol('org-path.slug');
type SlugSlot = { [SLUG]?: string };

/**
 * Fastify `rewriteUrl`: `/v1/orgs/:slug/<rest>` is served by the route `/v1/<rest>` with the slug kept as
 * the request's requested organization. Every tenant route is reachable both ways.
 */
export function rewriteOrgPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const m = ORG_PATH.exec(url);
  if (!m) return url;
  (req as IncomingMessage & SlugSlot)[SLUG] = m[1]!;
  return `/v1${m[2] ?? ''}${m[3] ?? ''}`;
}

/** The organization slug named by the request path, if any. */
export function orgSlugFromPath(req: IncomingMessage): string | undefined {
  return (req as IncomingMessage & SlugSlot)[SLUG];
}
