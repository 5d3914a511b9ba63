import { Type } from '@fastify/type-provider-typebox';
import { allPermissions } from '../../platform/authz/permissions.js';
import type { App } from '../../platform/http/server.js';
import { USERS_ONLY } from '../../platform/http/openapi.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { RolesService } from './roles.service.js';

const Role = Type.Object(
  {
    key: Type.String(),
    name: Type.String(),
    permissions: Type.Array(Type.String()),
    builtIn: Type.Boolean(),
    createdAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Role' },
);
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });
// Unknown permission strings get the service's ROLE_PERMISSIONS_INVALID, which names them.
const Permissions = Type.Array(Type.String({ maxLength: 64 }), { maxItems: allPermissions.length * 2 });
const KeyParams = Type.Object({ key: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/** `/v1/roles`: built-in and custom roles of the current organization. */
export function registerRolesRoutes(app: App, deps: { roles: RolesService }): void {
  const { roles } = deps;

  app.get(
    '/v1/roles',
    {
      config: { auth: { kind: 'tenant', permission: 'members:read' } },
      schema: {
        operationId: 'listRoles',
        security: USERS_ONLY,
        tags: ['roles'],
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ data: Type.Array(Role), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errors,
        },
      },
    },
    async (req) => roles.list(tenantCtx(req), req.query),
  );

  app.post(
    '/v1/roles',
    {
      config: { auth: { kind: 'tenant', permission: 'members:update_role' } },
      schema: {
        operationId: 'createRole',
        security: USERS_ONLY,
        tags: ['roles'],
        body: Type.Object(
          { key: Type.String({ minLength: 1, maxLength: 40 }), name: Name, permissions: Permissions },
          { additionalProperties: false },
        ),
        response: { 201: Role, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => reply.status(201).send(await roles.create(tenantCtx(req), req.body)),
  );

  app.patch(
    '/v1/roles/:key',
    {
      config: { auth: { kind: 'tenant', permission: 'members:update_role' } },
      schema: {
        operationId: 'updateRole',
        security: USERS_ONLY,
        tags: ['roles'],
        params: KeyParams,
        body: Type.Object(
          { name: Type.Optional(Name), permissions: Type.Optional(Permissions) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Role, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => roles.update(tenantCtx(req), req.params.key, req.body),
  );

  app.delete(
    '/v1/roles/:key',
    {
      config: { auth: { kind: 'tenant', permission: 'members:update_role' } },
      schema: {
        operationId: 'deleteRole',
        security: USERS_ONLY,
        tags: ['roles'],
        params: KeyParams,
        response: { 204: Type.Null(), 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      await roles.remove(tenantCtx(req), req.params.key);
      return reply.status(204).send(null);
    },
  );
}
