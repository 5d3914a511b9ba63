import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import { builtInRoles } from '../../platform/authz/roles.js';
import type { FastifyRequest } from 'fastify';
import { scimEscalation } from './scim.errors.js';
import type { ScimGroupsService } from './scim-groups.service.js';
import type { ScimTokensService } from './scim-tokens.service.js';

const TokenFields = {
  id: Type.String({ format: 'uuid' }),
  tokenId: Type.String({ description: 'The public part of the token: scim_<tokenId>_…' }),
  createdByUserId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};
const ScimToken = Type.Object(TokenFields, { $id: 'ScimToken' });
const CreatedScimToken = Type.Object(
  {
    ...TokenFields,
    secret: Type.Union([Type.String(), Type.Null()], {
      description: 'The full token, shown in this response only (null in a replay of an idempotent request).',
    }),
  },
  { $id: 'CreatedScimToken' },
);
const ScimEvent = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    at: Type.String({ format: 'date-time' }),
    method: Type.String(),
    resource: Type.String(),
    resourceId: Type.Union([Type.String(), Type.Null()]),
    status: Type.Integer(),
    outcome: Type.String(),
  },
  { $id: 'ScimEvent' },
);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const AUTH = { kind: 'tenant', permission: 'sso:manage' } as const;

/**
 * A SCIM token provisions and deprovisions members, and a group role mapping gives them roles up to admin:
 * issuing either is refused to a caller who does not hold every permission of admin (`sso:manage` alone,
 * in a custom role, would otherwise let its holder map a group to admin and provision themselves into it).
 */
function requireDirectoryAuthority(req: FastifyRequest): void {
  const held = req.tenantPermissions ?? new Set();
  const missing = builtInRoles.admin.filter((p) => !held.has(p));
  if (missing.length > 0) throw scimEscalation(missing);
}

/**
 * `/v1/scim/tokens` and `/v1/scim/events`: an organization's SCIM tokens (create, rotate, revoke; the
 * secret is shown once) and its directory sync log. All need `sso:manage`.
 */
export function registerScimRoutes(
  app: App,
  deps: { scimTokens: ScimTokensService; scimGroups: ScimGroupsService },
): void {
  const { scimTokens, scimGroups } = deps;
  app.post(
    '/v1/scim/tokens',
    {
      config: { auth: AUTH },
      schema: {
        operationId: 'createScimToken',
        tags: ['scim'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        response: { 201: CreatedScimToken, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      requireDirectoryAuthority(req);
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      const { token, replayed } = await scimTokens.create(tenantCtx(req), { idempotencyKey });
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).header('cache-control', 'no-store').send(token);
    },
  );

  app.get(
    '/v1/scim/tokens',
    {
      config: { auth: AUTH },
      schema: {
        operationId: 'listScimTokens',
        tags: ['scim'],
        querystring: PageQuery,
        response: { 200: PageOf(ScimToken), ...errors },
      },
    },
    async (req) => scimTokens.list(tenantCtx(req), req.query),
  );

  app.post(
    '/v1/scim/tokens/:id/rotate',
    {
      config: { auth: AUTH },
      schema: {
        operationId: 'rotateScimToken',
        tags: ['scim'],
        params: IdParams,
        response: { 201: CreatedScimToken, ...errors },
      },
    },
    async (req, reply) => {
      requireDirectoryAuthority(req);
      const token = await scimTokens.rotate(tenantCtx(req), req.params.id);
      return reply.status(201).header('cache-control', 'no-store').send(token);
    },
  );

  app.delete(
    '/v1/scim/tokens/:id',
    {
      config: { auth: AUTH },
      schema: {
        operationId: 'revokeScimToken',
        tags: ['scim'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await scimTokens.revoke(tenantCtx(req), req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/scim/events',
    {
      config: { auth: AUTH },
      schema: {
        operationId: 'listScimEvents',
        tags: ['scim'],
        querystring: PageQuery,
        response: { 200: PageOf(ScimEvent), ...errors },
      },
    },
    async (req) => scimTokens.events(tenantCtx(req), req.query),
  );

  app.put(
    '/v1/scim/groups/:id/role',
    {
      config: { auth: AUTH },
      schema: {
        operationId: 'setScimGroupRole',
        tags: ['scim'],
        params: IdParams,
        body: Type.Object(
          { role: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              id: Type.String({ format: 'uuid' }),
              displayName: Type.String(),
              role: Type.Union([Type.String(), Type.Null()]),
            },
            { $id: 'ScimGroupRole' },
          ),
          ...errors,
        },
      },
    },
    async (req) => {
      requireDirectoryAuthority(req);
      return scimGroups.setRole(tenantCtx(req), req.params.id, req.body.role);
    },
  );
}
