import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import type { App } from '../../platform/http/app-type.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { createQuotaCounters } from './quota-counters.js';
import { API_REQUESTS, createApiRequestsQuota, quotaRouteTable } from './quota-hook.js';
import { periodBounds, UNIT } from './quota-model.js';

/** A bare Fastify app with the quota hook and two tenant routes (the tenant set by a stand-in guard). */
async function fixture(orgId: string, limit: number) {
  const counters = createQuotaCounters({
    load: (_org, at) => {
      const b = periodBounds('day', at);
      return Promise.resolve([
        {
          meter: API_REQUESTS,
          period: 'day' as const,
          limit,
          enforcement: 'hard' as const,
          aggregation: 'count' as const,
          usage: 0n,
          periodStart: b.start,
          periodEnd: b.end,
        },
      ]);
    },
  });
  const quota = createApiRequestsQuota(counters);
  const app = Fastify() as unknown as App;
  quota.install(app);
  app.addHook('preValidation', (req, _reply, done) => {
    req.tenantCtx = { tenantId: orgId } as TenantCtx;
    done();
  });
  app.addHook('onResponse', (req, reply, done) => {
    quota.settle(req, orgId, reply.statusCode);
    done();
  });
  const tenant = { auth: { kind: 'tenant', permission: 'projects:read' } } as const;
  app.get('/slow', { config: tenant }, async () => {
    await new Promise((r) => setTimeout(r, 300));
    return { ok: true };
  });
  app.get('/fast', { config: tenant }, () => ({ ok: true }));
  app.get('/exempt', { config: { ...tenant, quotaExempt: true } }, () => ({ ok: true }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  return { app, counters, port };
}

it('an aborted request gives its reservation back (Fastify runs no onResponse on abort)', async () => {
  const org = randomUUID();
  const { app, counters, port } = await fixture(org, 1);
  try {
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/slow' });
        req.on('error', () => resolve());
        setTimeout(() => req.destroy(), 50);
      });
      await new Promise((r) => setTimeout(r, 400)); // the handler ends; no onResponse follows
      expect(counters.usage(org, API_REQUESTS, 'day')).toBe(0n);
    }
    // The one request the quota allows is still available, then the next is refused.
    expect((await app.inject({ url: '/fast' })).statusCode).toBe(200);
    expect(counters.usage(org, API_REQUESTS, 'day')).toBe(UNIT);
    expect((await app.inject({ url: '/fast' })).statusCode).toBe(429);
    // An exempt route runs no check, and its success still counts as usage.
    expect((await app.inject({ url: '/exempt' })).statusCode).toBe(200);
    expect(counters.usage(org, API_REQUESTS, 'day')).toBe(2n * UNIT);
    expect(quotaRouteTable(app).filter((r) => r.exempt)).toEqual([
      { method: 'GET', url: '/exempt', exempt: true },
      { method: 'HEAD', url: '/exempt', exempt: true },
    ]);
  } finally {
    await app.close();
  }
});
