import { Type } from '@fastify/type-provider-typebox';
import type { App } from './server.js';

/** A placement (or group of them) behind the code's migrations, and why. */
export interface PlacementBehind {
  /** `schema` (schema placements, counted: the probe is public and names no organization). */
  readonly placement: string;
  readonly count: number;
  readonly reason: string;
}

export interface HealthDeps {
  /**
   * Database reachable and every migration applied: `migrations` is false while the control database or
   * any placement is behind, and `behind` then says which and why.
   */
  readonly ready: () => Promise<{
    database: boolean;
    migrations: boolean;
    behind?: readonly PlacementBehind[];
  }>;
}

const Health = Type.Object({ status: Type.String() });
const Ready = Type.Object({
  status: Type.String(),
  checks: Type.Object({ database: Type.Boolean(), migrations: Type.Boolean() }),
  /** Only when placements are behind (docs/isolation-models.md "Migrations across placements"). */
  behind: Type.Optional(
    Type.Array(Type.Object({ placement: Type.String(), count: Type.Integer(), reason: Type.String() })),
  ),
});

/**
 * `/healthz`: the process is alive. `/readyz`: it can serve (database reachable, migrations current in the
 * control database and every placement).
 */
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
      const { behind, ...checks } = await deps
        .ready()
        .catch(() => ({ database: false, migrations: false, behind: undefined }));
      const ok = checks.database && checks.migrations;
      return reply.status(ok ? 200 : 503).send({
        status: ok ? 'ready' : 'not_ready',
        checks,
        ...(behind && behind.length > 0 ? { behind: [...behind] } : {}),
      });
    },
  );
}
