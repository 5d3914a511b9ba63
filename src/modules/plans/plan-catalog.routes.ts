import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { PlatformActor } from '../../platform/audit/platform-record.js';
import { PlanInput, PlanPatch, PlanSchema } from './plan-model.js';
import type { PlanCatalogService } from './plan-catalog.service.js';

const KeyParams = Type.Object({ key: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const actorOf = (req: FastifyRequest): PlatformActor => ({
  actor: authenticated(req).principal,
  requestId: req.id,
  sessionToken: platformSessionOf(req),
});

/** `/v1/platform/plans`: the plan catalog, platform administrators only. */
export function registerPlanCatalogRoutes(app: App, deps: { catalog: PlanCatalogService }): void {
  const { catalog } = deps;

  app.get(
    '/v1/platform/plans',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListPlans',
        tags: ['platform', 'billing'],
        description: 'Every plan by key, archived and non-public ones included.',
        querystring: PageQuery,
        response: { 200: PageOf(PlanSchema), ...errors },
      },
    },
    async (req) => catalog.list(req.query),
  );

  app.post(
    '/v1/platform/plans',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformCreatePlan',
        tags: ['platform', 'billing'],
        description:
          'Creates a plan. Idempotent by key: the same key with the same content answers 200 with the ' +
          'stored plan and writes nothing; a different plan of that key is 409 PLAN_KEY_TAKEN.',
        body: PlanInput,
        response: { 200: PlanSchema, 201: PlanSchema, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const { plan, created } = await catalog.create(actorOf(req), req.body);
      return reply.status(created ? 201 : 200).send(plan);
    },
  );

  app.get(
    '/v1/platform/plans/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformGetPlan',
        tags: ['platform', 'billing'],
        params: KeyParams,
        response: { 200: PlanSchema, ...errors },
      },
    },
    async (req) => catalog.get(req.params.key),
  );

  app.patch(
    '/v1/platform/plans/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformUpdatePlan',
        tags: ['platform', 'billing'],
        description:
          'Replaces the given fields. Organizations on the plan see new entitlements and seat limits on ' +
          'their next request; prices apply as the pricing engine reads them.',
        params: KeyParams,
        body: PlanPatch,
        response: { 200: PlanSchema, ...errors },
      },
    },
    async (req) => catalog.update(actorOf(req), req.params.key, req.body),
  );

  for (const [action, archived] of [
    ['archive', true],
    ['unarchive', false],
  ] as const) {
    app.post(
      `/v1/platform/plans/:key/${action}`,
      {
        config: { auth: { kind: 'platform' } },
        schema: {
          operationId: archived ? 'platformArchivePlan' : 'platformUnarchivePlan',
          tags: ['platform', 'billing'],
          description: archived
            ? 'No longer offered to owners; organizations on it keep it. Already archived: no change.'
            : 'Offered again (when public). Not archived: no change.',
          params: KeyParams,
          response: { 200: PlanSchema, ...errors },
        },
      },
      async (req) => catalog.setArchived(actorOf(req), req.params.key, archived),
    );
  }
}
