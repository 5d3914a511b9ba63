/**
 * What bench/http-read.ts measures: each target is a GET of one project, drawn at random from the
 * projects of a random signed-in user's organization, sent to one of the server processes. Credentials
 * are real ones obtained over HTTP from the app (a session per user, an access token from that session,
 * an organization API key created by it).
 */
import type { BenchUser } from './identity.js';
import { createApiKeyOverHttp, issueAccessToken, loginOverHttp } from './identity.js';
import type { RequestSpec } from './load.js';

/** The server process a target is sent to. */
export type ServerName = 'bare' | 'app' | 'app-silent-log' | 'app-noauth' | 'app-compare';

/** A signed-in benchmark user and their organization. */
export interface Credentials {
  readonly orgId: string;
  readonly slug: string;
  readonly userId: string;
  readonly cookie: string;
  jwt: string;
  jwtIssuedAt: number;
  readonly apiKey: string;
}

export interface Target {
  readonly name: string;
  readonly server: ServerName;
  /** Run only with BENCH_TARGETS=all (or by name). */
  readonly extra?: boolean;
  request(c: Credentials, projectId: string): RequestSpec;
}

const get = (path: string, headers: Record<string, string> = {}): RequestSpec => ({
  method: 'GET',
  path,
  headers,
});
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export const TARGETS: readonly Target[] = [
  { name: 'bare-unnamed', server: 'bare', request: (c, id) => get(`/bare/projects/${c.orgId}/${id}`) },
  {
    name: 'bare-prepared',
    server: 'bare',
    request: (c, id) => get(`/bare-prepared/projects/${c.orgId}/${id}`),
  },
  { name: 'session', server: 'app', request: (c, id) => get(`/v1/projects/${id}`, { cookie: c.cookie }) },
  {
    name: 'session-org-slug',
    server: 'app',
    request: (c, id) => get(`/v1/projects/${id}`, { cookie: c.cookie, 'x-organization': c.slug }),
  },
  {
    name: 'session-org-id',
    server: 'app',
    request: (c, id) => get(`/v1/projects/${id}`, { cookie: c.cookie, 'x-organization': c.orgId }),
  },
  {
    name: 'session-path-slug',
    server: 'app',
    request: (c, id) => get(`/v1/orgs/${c.slug}/projects/${id}`, { cookie: c.cookie }),
  },
  { name: 'jwt', server: 'app', request: (c, id) => get(`/v1/projects/${id}`, bearer(c.jwt)) },
  { name: 'apikey', server: 'app', request: (c, id) => get(`/v1/projects/${id}`, bearer(c.apiKey)) },
  {
    name: 'jwt-org-slug',
    server: 'app',
    extra: true,
    request: (c, id) => get(`/v1/projects/${id}`, { ...bearer(c.jwt), 'x-organization': c.slug }),
  },
  {
    name: 'apikey-org-slug',
    server: 'app',
    extra: true,
    request: (c, id) => get(`/v1/projects/${id}`, { ...bearer(c.apiKey), 'x-organization': c.slug }),
  },
  {
    // The session read against a second app process started with LOG_LEVEL=silent: what logging costs.
    name: 'session-silent-log',
    server: 'app-silent-log',
    extra: true,
    request: (c, id) => get(`/v1/projects/${id}`, { cookie: c.cookie }),
  },
  {
    name: 'app-noauth',
    server: 'app-noauth',
    extra: true,
    request: (c, id) => get(`/v1/projects/${id}`, { 'x-bench-user': c.userId, 'x-bench-org': c.orgId }),
  },
];

/** BENCH_TARGETS: unset = every target but the extras; `all`; or a comma-separated list of names. */
export function selectTargets(spec: string | undefined): Target[] {
  if (!spec) return TARGETS.filter((t) => !t.extra);
  if (spec.trim() === 'all') return [...TARGETS];
  const names = spec.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown BENCH_TARGETS ${unknown.join(', ')} (known: ${TARGETS.map((t) => t.name).join(', ')})`,
    );
  }
  return TARGETS.filter((t) => names.includes(t.name));
}

/**
 * With BENCH_COMPARE_DIR: each target of the app gets a twin `<name>@cmp`, the same requests sent to the
 * app of the other checkout, run right after it in every round (an A/B in the same minutes).
 */
export function withCompareTwins(targets: readonly Target[]): Target[] {
  return targets.flatMap((t) =>
    t.server === 'app' ? [t, { ...t, name: `${t.name}@cmp`, server: 'app-compare' as const }] : [t],
  );
}

/** Signs every user in over HTTP, issues an access token and creates an API key for each. */
export async function signIn(
  appUrl: string,
  users: readonly BenchUser[],
  slugOf: ReadonlyMap<string, string>,
): Promise<Credentials[]> {
  const creds: Credentials[] = [];
  for (const user of users) {
    const cookie = await loginOverHttp(appUrl, user);
    const jwt = await issueAccessToken(appUrl, appUrl, cookie, user.orgId);
    const apiKey = await createApiKeyOverHttp(appUrl, appUrl, cookie, user.orgId);
    const slug = slugOf.get(user.orgId);
    if (!slug) throw new Error(`no slug for organization ${user.orgId}`);
    creds.push({
      orgId: user.orgId,
      slug,
      userId: user.userId,
      cookie,
      jwt,
      jwtIssuedAt: Date.now(),
      apiKey,
    });
  }
  return creds;
}

/**
 * Access tokens live 10 minutes, shorter than a long run: tokens older than `maxAgeMs` are re-issued
 * from their sessions before the next measurement.
 */
export async function refreshAccessTokens(appUrl: string, creds: Credentials[], maxAgeMs = 4 * 60_000) {
  for (const c of creds) {
    if (Date.now() - c.jwtIssuedAt < maxAgeMs) continue;
    c.jwt = await issueAccessToken(appUrl, appUrl, c.cookie, c.orgId);
    c.jwtIssuedAt = Date.now();
  }
}

/** Every (user, project of the user's organization) request of a target. */
export function requestsOf(
  target: Target,
  creds: readonly Credentials[],
  projectsOf: ReadonlyMap<string, readonly string[]>,
): RequestSpec[] {
  return creds.flatMap((c) => (projectsOf.get(c.orgId) ?? []).map((id) => target.request(c, id)));
}

/** One request, checked for a 200 carrying the requested row, before anything is timed. */
export async function preflight(target: Target, url: string, creds: Credentials, projectId: string) {
  const spec = target.request(creds, projectId);
  const res = await fetch(`${url}${spec.path}`, { headers: spec.headers });
  const body = await res.text();
  let id: unknown;
  try {
    id = (JSON.parse(body) as { id?: unknown }).id;
  } catch {
    id = undefined;
  }
  if (res.status !== 200 || id !== projectId) {
    throw new Error(
      `preflight of ${target.name} (${spec.path}) answered ${res.status}: ${body.slice(0, 300)}`,
    );
  }
}
