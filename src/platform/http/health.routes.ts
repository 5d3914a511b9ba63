import { Type } from '@fastify/type-provider-typebox';
import type { App } from './server.js';

export interface HealthDeps {
  /** Database reachable and every migration applied. */
  readonly ready: () => Promise<{ database: boolean; migrations: boolean }>;
}

const Health = Type.Object({ status: Type.String() });
const Ready = Type.Object({
  status: Type.String(),
  checks: Type.Object({ database: Type.Boolean(), migrations: Type.Boolean() }),
});

/** `/healthz`: the process is alive. `/readyz`: it can serve (database reachable, migrations current). */
export function registerHealthRoutes(app: App, deps: HealthDeps): void {
  app.get(
    '/healthz',
    {
      schema: { operationId: 'health', tags: ['health'], response: { 200: Health } },
      config: { auth: { kind: 'public', reason: 'liveness probe' } },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: { operationId: 'ready', tags: ['health'], response: { 200: Ready, 503: Ready } },
      config: { auth: { kind: 'public', reason: 'readiness probe' } },
    },
    async (_req, reply) => {
      const checks = await deps.ready().catch(() => ({ database: false, migrations: false }));
      const ok = checks.database && checks.migrations;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
    },
  );
}
