import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf, userIdOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { MAX_ORGANIZATION_SEARCH, type PlatformService } from './platform-admin.service.js';

const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const Attributes = Type.Record(
  Type.String({ pattern: '^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$' }),
  Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean()]),
  { maxProperties: 50, additionalProperties: false },
);
const Placement = Type.Object(
  {
    kind: Type.Union([Type.Literal('pooled'), Type.Literal('schema'), Type.Literal('database')], {
      description:
        '`pooled`: the shared tables; `schema`: its own schema; `database`: its own database. An ' +
        'organization with no recorded placement is `pooled`.',
    }),
    schema: Type.Union([Type.String(), Type.Null()], {
      description: 'The name of its own schema (kind `schema`), otherwise null.',
    }),
    databaseKey: Type.Union([Type.String(), Type.Null()], {
      description: 'The key of its own database (kind `database`), otherwise null.',
    }),
    state: Type.Union([Type.Literal('active'), Type.Literal('moving')], {
      description: '`moving` while an online placement move of the organization runs.',
    }),
  },
  { description: 'Where the organization’s data lives, as the placement table records it.' },
);
const Org = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  personal: Type.Boolean(),
  members: Type.Integer(),
  createdAt: Type.String(),
  suspendedAt: Type.Union([Type.String(), Type.Null()]),
  deletionRequestedAt: Type.Union([Type.String(), Type.Null()]),
  plan: Type.String(),
  attributes: Attributes,
  placement: Placement,
});
const Targeting = Type.Object({
  id: Type.String(),
  slug: Type.String(),
  name: Type.String(),
  plan: Type.String(),
  attributes: Attributes,
});

/** `/v1/platform/*`: platform administrators only. */
export function registerPlatformRoutes(app: App, deps: { platform: PlatformService }): void {
  app.get(
    '/v1/platform/organizations',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListOrganizations',
        tags: ['platform'],
        description:
          'Every organization, newest first. `q` keeps those whose name or slug contains it, ignoring ' +
          'case (a plain substring); `nextCursor` continues the same search.',
        querystring: Type.Object(
          {
            q: Type.Optional(Type.String({ maxLength: MAX_ORGANIZATION_SEARCH })),
            ...PageQuery.properties,
          },
          { additionalProperties: false },
        ),
        response: {
          200: PageOf(Org),
          400: ErrorResponse,
          ...errors,
        },
      },
    },
    async (req) => deps.platform.listOrganizations(platformSessionOf(req), req.query),
  );
  for (const [action, suspended] of [
    ['suspend', true],
    ['unsuspend', false],
  ] as const) {
    app.post(
      `/v1/platform/organizations/:id/${action}`,
      {
        config: { auth: { kind: 'platform' } },
        schema: {
          operationId: suspended ? 'platformSuspendOrganization' : 'platformUnsuspendOrganization',
          tags: ['platform'],
          params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (req, reply) => {
        await deps.platform.setSuspended(userIdOf(req), req.params.id, suspended);
        return reply.status(204).send(null);
      },
    );
  }
  app.patch(
    '/v1/platform/organizations/:id',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformUpdateOrganizationTargeting',
        tags: ['platform', 'flags'],
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: Type.Object(
          {
            plan: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$' })),
            attributes: Type.Optional(Attributes),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Targeting, 400: ErrorResponse, ...errors },
      },
    },
    async (req) =>
      deps.platform.updateTargeting(
        { actor: authenticated(req).principal, requestId: req.id },
        req.params.id,
        req.body,
      ),
  );
}
