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
  // No control characters (a browser drops tabs and newlines: `/\t/host` would read `//host`), and the
  // resolved address must stay on this origin.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(next)) return fallback;
  if (new URL(next, window.location.origin).origin !== window.location.origin) return fallback;
  return next;
}
