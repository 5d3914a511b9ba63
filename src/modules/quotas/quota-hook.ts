import type { FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import type { RouteAuth } from '../../platform/http/auth.js';
import type { QuotaCounters } from './quota-counters.js';
import { UNIT } from './quota-model.js';
import { quotaExceededError } from './quotas.errors.js';

/** The built-in meter every tenant-scoped request counts toward. */
export const API_REQUESTS = 'api_requests';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A tenant route the hard `api_requests` quota never blocks (its requests still count as usage). The
     * rule: what an organization over its quota needs to see where it stands, to contain an attack and
     * to get out of the quota, i.e. reading (plan, usage, invoices, members, API keys, the audit log, the
     * organization), revoking an API key, removing a member, and the billing routes (changing plan). No
     * route that creates tenant data is exempt, billing aside. Public, user-level and platform routes
     * (health, sign-in, sessions and sign-out, the account) have no tenant and are never checked.
     * The list is pinned by a test (quotas.test.ts).
     */
    quotaExempt?: true;
  }
}

const tables = new WeakMap<object, { method: string; url: string; exempt: boolean }[]>();

/** Every tenant route registered on `app`, with whether it is quota-exempt (for the test that lists them). */
export function quotaRouteTable(app: App): readonly { method: string; url: string; exempt: boolean }[] {
  return tables.get(app) ?? [];
}

/**
 * The hard `api_requests` quota on the request path: a preHandler on every tenant route that is not
 * exempt (added per route, so exempt and non-tenant routes run nothing), after authentication and tenant
 * resolution (preValidation) and before the handler. It counts the request when it lets it through (a
 * reservation), given back if the answer is 4xx/5xx (not usage: `settle`, in the `onResponse` hook that
 * records the usage) or if the client goes away before the answer (Fastify then runs no `onResponse`:
 * `onRequestAbort`). Call `install` before any route is registered.
 */
export function createApiRequestsQuota(counters: QuotaCounters) {
  /** Requests let through: holding their reservation, or given it back (aborted, or answered 4xx/5xx). On
   *  the request under a private symbol: a WeakMap entry per request costs the garbage collector more. */
  const RESERVED = Symbol('quota.reserved');
  type ReservedSlot = { [RESERVED]?: 'held' | 'released' };
  const reserved = {
    get: (request: FastifyRequest) => (request as unknown as ReservedSlot)[RESERVED],
    has: (request: FastifyRequest) => (request as unknown as ReservedSlot)[RESERVED] !== undefined,
    set: (request: FastifyRequest, v: 'held' | 'released') => {
      (request as unknown as ReservedSlot)[RESERVED] = v;
    },
  };

  /** Counts the request if the quota lets it through (the organization's quotas are loaded). */
  const consume = (request: FastifyRequest, orgId: string, done: (err?: Error) => void) => {
    const over = counters.tryConsume(orgId, API_REQUESTS, UNIT);
    if (over) {
      done(quotaExceededError(over));
      return;
    }
    reserved.set(request, 'held');
    done();
  };

  // No closure per request: the quotas are loaded on almost every request, and the check runs at once.
  const preHandler: preHandlerHookHandler = (request, _reply, done) => {
    const ctx = request.tenantCtx;
    if (!ctx) {
      done();
      return;
    }
    const orgId = ctx.tenantId;
    let ready: void | Promise<void>;
    try {
      ready = counters.ready(orgId);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (ready instanceof Promise) {
      ready.then(
        () => consume(request, orgId, done),
        (err: Error) => done(err),
      );
    } else consume(request, orgId, done);
  };

  /** Gives a request's reservation back (once). */
  const release = (request: FastifyRequest, orgId: string) => {
    if (reserved.get(request) !== 'held') return;
    reserved.set(request, 'released');
    counters.add(orgId, API_REQUESTS, -UNIT);
  };

  return {
    install(app: App): void {
      const table: { method: string; url: string; exempt: boolean }[] = [];
      tables.set(app, table);
      app.addHook('onRoute', (route) => {
        const auth: RouteAuth | undefined = route.config?.auth;
        if (auth?.kind !== 'tenant') return;
        const exempt = route.config?.quotaExempt === true;
        for (const m of [route.method].flat()) table.push({ method: String(m), url: route.url, exempt });
        if (exempt) return;
        const existing = route.preHandler;
        route.preHandler = existing ? [preHandler, ...[existing].flat()] : preHandler;
      });
      // The client went away before the answer: no onResponse follows, the reservation goes back here.
      app.addHook('onRequestAbort', (request, done) => {
        if (request.tenantCtx) release(request, request.tenantCtx.tenantId);
        done();
      });
    },
    /** In `onResponse`, for a request with a tenant: counts an exempt request that succeeded, gives the
     *  reservation of a counted request back when its answer is an error. */
    settle(request: FastifyRequest, orgId: string, statusCode: number): void {
      if (reserved.has(request)) {
        if (statusCode >= 400) release(request, orgId);
      } else if (statusCode < 400) counters.add(orgId, API_REQUESTS, UNIT);
    },
  };
}

export type ApiRequestsQuota = ReturnType<typeof createApiRequestsQuota>;
