import type { FastifyRequest } from 'fastify';
import type { App } from './app-type.js';
import type { Permission } from '../authz/permissions.js';
import { runWithContext, currentContext, type Principal, type TenantCtx } from '../tenancy/context.js';
import { HttpError } from './http-errors.js';

/** Every route declares how it is authenticated, in `config.auth`. There is no default. */
export type RouteAuth =
  | { readonly kind: 'public'; readonly reason: string }
  | { readonly kind: 'tenant'; readonly permission: Permission };

/** What a tenant resolver establishes from a verified source (session, token, API key, domain). */
export interface ResolvedTenant {
  readonly tenantId: string;
  readonly principal: Principal;
  readonly permissions: ReadonlySet<Permission>;
}

/**
 * Resolves the principal and its tenant for a request, from verified sources only. `null` means
 * unauthenticated (401). A tenant the principal has no active membership in must also give `null`
 * or a 404 error, never a hint that the tenant exists.
 */
export type TenantResolver = (request: FastifyRequest) => Promise<ResolvedTenant | null>;

/** Until identity exists nothing can be verified, so nothing is accepted: every tenant route is 401. */
export const denyAllResolver: TenantResolver = () => Promise.resolve(null);

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    tenantCtx?: TenantCtx;
  }
}

/** The service ctx of an authenticated tenant request (the guard has run). */
export function tenantCtx(request: FastifyRequest): TenantCtx {
  if (!request.tenantCtx) throw new HttpError('INTERNAL', 'route used tenantCtx without tenant auth', 500);
  return request.tenantCtx;
}

const declared = new WeakMap<object, { method: string; url: string; auth: RouteAuth }[]>();

/** Every route registered on `app` with its auth declaration (for the test that checks them all). */
export function routeAuthTable(app: App): readonly { method: string; url: string; auth: RouteAuth }[] {
  return declared.get(app) ?? [];
}

/**
 * Installs the request context (AsyncLocalStorage) and the one guard every route goes through: a route
 * without an `auth` declaration fails registration; a tenant route runs the resolver and checks the
 * declared permission before validation and the handler.
 */
export function installAuth(app: App, resolver: TenantResolver): void {
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
  });

  app.addHook('onRequest', (request, _reply, done) => {
    runWithContext({ requestId: request.id, principal: { kind: 'anonymous' } }, done);
  });

  app.addHook('preValidation', async (request) => {
    const auth = request.routeOptions.config.auth;
    if (!auth || auth.kind === 'public') return;
    const resolved = await resolver(request);
    if (!resolved) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
    const ctx = currentContext();
    if (ctx) {
      ctx.tenantId = resolved.tenantId;
      ctx.principal = resolved.principal;
    }
    if (!resolved.permissions.has(auth.permission)) {
      throw new HttpError('FORBIDDEN', `missing permission ${auth.permission}`, 403);
    }
    request.tenantCtx = { tenantId: resolved.tenantId, actor: resolved.principal, requestId: request.id };
  });
}
