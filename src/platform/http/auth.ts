import type { FastifyRequest, preValidationHookHandler } from 'fastify';
import type { App } from './app-type.js';
import type { Permission } from '../authz/permissions.js';
import {
  runWithContext,
  currentContext,
  type Principal,
  type RequestContext,
  type TenantCtx,
} from '../tenancy/context.js';
import { HttpError } from './http-errors.js';
import { isPending, type MaybePromise } from '../cache/maybe-promise.js';
import type { UserProof } from '../tenancy/privileged.js';

/**
 * Every route declares how it is authenticated, in `config.auth`. There is no default.
 * - `public`: anyone (give the reason).
 * - `user`: a verified principal, no tenant (e.g. list my organizations, create one).
 * - `tenant`: a verified principal with an ACTIVE membership in the resolved tenant holding `permission`.
 * - `platform`: a platform administrator (separate from any organization role).
 */
export type RouteAuth =
  | { readonly kind: 'public'; readonly reason: string }
  | { readonly kind: 'user' }
  | { readonly kind: 'tenant'; readonly permission: Permission }
  | { readonly kind: 'platform' };

/** A principal established from a verified source (session cookie, signed token, API key). */
export interface Authenticated {
  readonly principal: Principal;
  /** The user behind the principal (API keys may have none). */
  readonly userId: string | null;
  readonly sessionId: string | null;
  readonly isPlatformAdmin: boolean;
  /** The credential the request presented, as the proof privileged lookups about its user ask for
   *  (`PrivilegedOps.userOrganizations`) and, for a session, what opens the platform scope
   *  (`withPlatformScope`); absent for API keys. */
  readonly credential?: UserProof;
  /** Whether the user's email address is verified (from the session's or the token's cached user state;
   *  absent for API keys, which have no user). */
  readonly emailVerified?: boolean;
  /** The `sid` of a bearer access token: its refresh-token family (live, or the token was refused). */
  readonly refreshFamilyId?: string;
}

/** What tenant resolution establishes: the tenant and the principal's permissions in it. */
export interface ResolvedTenant {
  readonly tenantId: string;
  readonly role: string;
  readonly permissions: ReadonlySet<Permission>;
}

/**
 * Verifies who is calling and, for tenant routes, which tenant they act in. `authenticate` returning
 * null is a 401. `resolveTenant` returning null is a 404 that looks exactly like a missing organization
 * (a tenant the principal has no ACTIVE membership in must not be distinguishable from none); it may also
 * throw an AppError (e.g. a stale token's 401). Both may answer with the value itself rather than a
 * promise (every lookup a cache hit): the guard then runs without a promise, synchronously.
 */
export interface Authenticator {
  authenticate(request: FastifyRequest): MaybePromise<Authenticated | null>;
  resolveTenant(request: FastifyRequest, who: Authenticated): MaybePromise<ResolvedTenant | null>;
}

/** Until identity exists nothing can be verified, so nothing is accepted: every non-public route is 401. */
export const denyAllAuthenticator: Authenticator = {
  authenticate: () => Promise.resolve(null),
  resolveTenant: () => Promise.resolve(null),
};

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    authenticated?: Authenticated;
    tenantCtx?: TenantCtx;
    tenantRole?: string;
    /** The permissions the principal holds in the resolved tenant (set with `tenantCtx`). */
    tenantPermissions?: ReadonlySet<Permission>;
  }
}

/** The service ctx of an authenticated tenant request (the guard has run). */
export function tenantCtx(request: FastifyRequest): TenantCtx {
  if (!request.tenantCtx) throw new HttpError('INTERNAL', 'route used tenantCtx without tenant auth', 500);
  return request.tenantCtx;
}

/** The verified principal of a `user`, `tenant` or `platform` route. */
export function authenticated(request: FastifyRequest): Authenticated {
  if (!request.authenticated) throw new HttpError('INTERNAL', 'route used authenticated() without auth', 500);
  return request.authenticated;
}

/** The verified user id of a `user`/`tenant`/`platform` route whose principal is a user. */
export function userIdOf(request: FastifyRequest): string {
  const who = authenticated(request);
  if (!who.userId) throw new HttpError('FORBIDDEN', 'this route needs a user, not an API key', 403);
  return who.userId;
}

/** The raw session token of a `platform` route's request (platform routes are session-only): what opens
 *  the administrator's platform scope. */
export function platformSessionOf(request: FastifyRequest): string {
  const credential = authenticated(request).credential;
  if (credential?.kind !== 'session') {
    throw new HttpError('FORBIDDEN', 'platform administration needs a browser session', 403);
  }
  return credential.token;
}

/** One 404 body for "no such organization" and "not your organization" alike. */
export const organizationNotFound = () => new HttpError('NOT_FOUND', 'organization not found', 404);

const declared = new WeakMap<object, { method: string; url: string; auth: RouteAuth }[]>();

/** Every route registered on `app` with its auth declaration (for the test that checks them all). */
export function routeAuthTable(app: App): readonly { method: string; url: string; auth: RouteAuth }[] {
  return declared.get(app) ?? [];
}

/**
 * Installs the request context (AsyncLocalStorage) and the one guard every route goes through: a route
 * without an `auth` declaration fails registration; every other route runs the authenticator (and tenant
 * resolution and the permission check for tenant routes) before validation and the handler.
 */
export function installAuth(app: App, authenticator: Authenticator): void {
  const table: { method: string; url: string; auth: RouteAuth }[] = [];
  declared.set(app, table);
  app.addHook('onRoute', (route) => {
    let auth = route.config?.auth;
    if (!auth) {
      // Routes added by the docs plugin are public by name; every other route must declare itself.
      if (!route.url.startsWith('/docs')) {
        throw new Error(`route ${String(route.method)} ${route.url} has no auth declaration (config.auth)`);
      }
      auth = { kind: 'public', reason: 'API documentation' };
      route.config = { ...(route.config ?? {}), auth };
    }
    for (const method of [route.method].flat()) table.push({ method: String(method), url: route.url, auth });
    // The guard is the route's own first preValidation hook, with its declaration in the closure: a
    // public route runs no guard at all, and no request reads `request.routeOptions` (a getter that
    // builds a dozen-field object on each access) to find out what its route declared.
    if (auth.kind !== 'public') {
      const hook = guardHook(auth);
      const existing = route.preValidation;
      route.preValidation = existing ? [hook, ...[existing].flat()] : hook;
    }
  });

  app.addHook('onRequest', (request, _reply, done) => {
    runWithContext(new HttpRequestContext(request), done);
  });

  function guardHook(auth: GuardedAuth): preValidationHookHandler {
    return (request, _reply, done) => {
      let guarded: MaybePromise<void>;
      try {
        guarded = guard(request, auth);
      } catch (err) {
        done(err as Error);
        return;
      }
      if (guarded instanceof Promise) guarded.then(() => done(), done);
      else done();
    };
  }

  /**
   * Runs synchronously as far as the authenticator answers synchronously (its caches hit). The steps are
   * functions of their own rather than closures: nothing is allocated per request for the chain itself.
   */
  function guard(request: FastifyRequest, auth: GuardedAuth): MaybePromise<void> {
    const who = authenticator.authenticate(request);
    return isPending(who) ? who.then((w) => admit(request, auth, w)) : admit(request, auth, who);
  }

  function admit(request: FastifyRequest, auth: GuardedAuth, who: Authenticated | null): MaybePromise<void> {
    if (!who) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
    request.authenticated = who;
    const ctx = currentContext();
    if (ctx) ctx.principal = who.principal;
    if (auth.kind === 'user') return;
    if (auth.kind === 'platform') {
      if (!who.isPlatformAdmin) throw new HttpError('FORBIDDEN', 'platform administrators only', 403);
      return;
    }
    const resolved = authenticator.resolveTenant(request, who);
    if (isPending(resolved)) return resolved.then((r) => enter(request, auth, who, ctx, r));
    enter(request, auth, who, ctx, resolved);
  }

  function enter(
    request: FastifyRequest,
    auth: Extract<RouteAuth, { kind: 'tenant' }>,
    who: Authenticated,
    ctx: RequestContext | undefined,
    resolved: ResolvedTenant | null,
  ): void {
    if (!resolved) throw organizationNotFound();
    if (ctx) ctx.tenantId = resolved.tenantId;
    if (!resolved.permissions.has(auth.permission)) {
      throw new HttpError('FORBIDDEN', `missing permission ${auth.permission}`, 403);
    }
    request.tenantRole = resolved.role;
    request.tenantPermissions = resolved.permissions;
    request.tenantCtx = { tenantId: resolved.tenantId, actor: who.principal, requestId: request.id };
  }
}

type GuardedAuth = Exclude<RouteAuth, { kind: 'public' }>;

/** Nobody yet: the principal of a request until the guard establishes one (shared, never mutated). */
const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

/**
 * The request context of an HTTP request. IP and user agent are read only by the audit recorder: getters
 * on the prototype, so a request that records nothing pays nothing for them (`request.ip` re-parses
 * X-Forwarded-For under TRUST_PROXY on every access), and no closure is made per request.
 */
class HttpRequestContext implements RequestContext {
  readonly requestId: string;
  tenantId?: string;
  principal: Principal = ANONYMOUS;
  readonly #request: FastifyRequest;

  constructor(request: FastifyRequest) {
    this.requestId = request.id;
    this.#request = request;
  }

  get ip(): string {
    return this.#request.ip;
  }

  get userAgent(): string | undefined {
    return this.#request.headers['user-agent'];
  }
}
