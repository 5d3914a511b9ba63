import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { USERS_ONLY } from '../../platform/http/openapi.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { MembershipsService } from './memberships.service.js';

// No $id: the transfer response holds two members, and an $id may appear once per schema.
const Member = Type.Object({
  userId: Type.String({ format: 'uuid' }),
  email: Type.String(),
  role: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('pending')]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});
const UserIdParams = Type.Object({ userId: Type.String({ maxLength: 64 }) });
const RoleKey = Type.String({ minLength: 1, maxLength: 40 });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/** `/v1/members`: the current organization's members (tenant from tenant resolution). */
export function registerMembershipsRoutes(app: App, deps: { memberships: MembershipsService }): void {
  const { memberships } = deps;

  app.get(
    '/v1/members',
    {
      config: { auth: { kind: 'tenant', permission: 'members:read' }, quotaExempt: true },
      schema: {
        operationId: 'listMembers',
        security: USERS_ONLY,
        tags: ['members'],
        querystring: PageQuery,
        response: {
          200: PageOf(Member),
          ...errors,
        },
      },
    },
    async (req) => memberships.list(tenantCtx(req), req.query),
  );

  app.patch(
    '/v1/members/:userId',
    {
      config: { auth: { kind: 'tenant', permission: 'members:update_role' } },
      schema: {
        operationId: 'changeMemberRole',
        security: USERS_ONLY,
        tags: ['members'],
        params: UserIdParams,
        body: Type.Object({ role: RoleKey }, { additionalProperties: false }),
        response: { 200: Member, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => memberships.changeRole(tenantCtx(req), req.params.userId, req.body.role),
  );

  app.delete(
    '/v1/members/:userId',
    {
      config: { auth: { kind: 'tenant', permission: 'members:remove' }, quotaExempt: true },
      schema: {
        operationId: 'removeMember',
        security: USERS_ONLY,
        tags: ['members'],
        params: UserIdParams,
        response: { 204: Type.Null(), 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      await memberships.remove(tenantCtx(req), req.params.userId);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/members/leave',
    {
      config: { auth: { kind: 'tenant', permission: 'org:read' } },
      schema: {
        operationId: 'leaveOrganization',
        security: USERS_ONLY,
        tags: ['members'],
        response: { 204: Type.Null(), 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      await memberships.leave(tenantCtx(req));
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/members/transfer-ownership',
    {
      config: { auth: { kind: 'tenant', permission: 'members:update_role' } },
      schema: {
        operationId: 'transferOwnership',
        security: USERS_ONLY,
        tags: ['members'],
        body: Type.Object({ userId: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({ newOwner: Member, previousOwner: Member }),
          409: ErrorResponse,
          ...errors,
        },
      },
    },
    async (req) => memberships.transferOwnership(tenantCtx(req), req.body.userId),
  );
}
