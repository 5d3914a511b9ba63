import type { FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import type { RouteAuth } from '../../platform/http/auth.js';
import type { QuotaCounters } from './quota-counters.js';
import { quotaExceededError } from './quotas.errors.js';

/** The built-in meter every tenant-scoped request counts toward. */
export const API_REQUESTS = 'api_requests';

/**
 * Tenant routes a hard `api_requests` quota never blocks: what an organization needs to see where it
 * stands and to get out of the quota, i.e. every `/v1/billing` route (plan, seats, invoice preview,
 * invoices, plan change, checkout) and reading its usage (`GET /v1/usage/...`). Public, user-level and
 * platform routes (health, sign-in, sessions, the account) have no tenant and are never checked. The
 * exempt requests still count as usage.
 */
export function isQuotaExempt(method: string, url: string): boolean {
  if (url === '/v1/billing' || url.startsWith('/v1/billing/')) return true;
  return (method === 'GET' || method === 'HEAD') && url.startsWith('/v1/usage/');
}

/**
 * The hard `api_requests` quota on the request path: a preHandler on every tenant route that is not
 * exempt (added per route, so exempt and non-tenant routes run nothing), after authentication and tenant
 * resolution (preValidation) and before the handler. It counts the request when it lets it through (a
 * reservation given back if the answer is 4xx/5xx, which is not usage); `settle` runs in the
 * `onResponse` hook that records the usage. Call `install` before any route is registered.
 */
export function createApiRequestsQuota(counters: QuotaCounters) {
  const reserved = new WeakSet<FastifyRequest>();

  const preHandler: preHandlerHookHandler = (request, _reply, done) => {
    const ctx = request.tenantCtx;
    if (!ctx) {
      done();
      return;
    }
    const orgId = ctx.tenantId;
    const finish = () => {
      const over = counters.tryConsume(orgId, API_REQUESTS, 1);
      if (over) {
        done(quotaExceededError(over));
        return;
      }
      reserved.add(request);
      done();
    };
    let ready: void | Promise<void>;
    try {
      ready = counters.ready(orgId);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (ready instanceof Promise) ready.then(finish, (err: Error) => done(err));
    else finish();
  };

  return {
    install(app: App): void {
      app.addHook('onRoute', (route) => {
        const auth: RouteAuth | undefined = route.config?.auth;
        if (auth?.kind !== 'tenant') return;
        const methods = [route.method].flat().map(String);
        if (methods.every((m) => isQuotaExempt(m, route.url))) return;
        const existing = route.preHandler;
        route.preHandler = existing ? [preHandler, ...[existing].flat()] : preHandler;
      });
    },
    /** In `onResponse`, for a request with a tenant: counts an exempt request that succeeded, gives the
     *  reservation of a counted request back when its answer is an error. */
    settle(request: FastifyRequest, orgId: string, statusCode: number): void {
      if (reserved.has(request)) {
        if (statusCode >= 400) counters.add(orgId, API_REQUESTS, -1);
      } else if (statusCode < 400) counters.add(orgId, API_REQUESTS, 1);
    },
  };
}

export type ApiRequestsQuota = ReturnType<typeof createApiRequestsQuota>;
