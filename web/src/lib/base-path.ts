/**
 * The path the console is served under: '' at the root of the site, '/app' when PUBLIC_URL is
 * `https://host/app`. The server writes it into index.html's `<base href>`.
 */
export const basePath = new URL(document.baseURI).pathname.replace(/\/+$/, '');

/** A console path (`/o/acme/projects`) as an absolute URL path under {@link basePath}. */
export const consoleHref = (path: string) => `${basePath}${path}`;

/**
 * A `next` location from a query string, only when it is a path inside the console (`/…` but not
 * `//host` or `/\host`): never a redirect to another site.
 */
export function safeNext(next: string | null | undefined, fallback = '/'): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  return next;
}
