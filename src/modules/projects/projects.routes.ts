import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import type { ProjectsService } from './projects.service.js';

const Project = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Project' },
);
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Description = Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/** `/v1/projects`: the example tenant-scoped resource behind tenant resolution. */
export function registerProjectsRoutes(app: App, deps: { projects: ProjectsService }): void {
  const { projects } = deps;

  app.post(
    '/v1/projects',
    {
      config: { auth: { kind: 'tenant', permission: 'projects:create' } },
      schema: {
        operationId: 'createProject',
        tags: ['projects'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object(
          { name: Name, description: Type.Optional(Description) },
          { additionalProperties: false },
        ),
        response: { 201: Project, 409: ErrorResponse, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      const { project, replayed } = await projects.create(tenantCtx(req), req.body, { idempotencyKey });
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).send(project);
    },
  );

  app.get(
    '/v1/projects',
    {
      config: { auth: { kind: 'tenant', permission: 'projects:read' } },
      schema: {
        operationId: 'listProjects',
        tags: ['projects'],
        querystring: PageQuery,
        response: {
          200: PageOf(Project),
          ...errors,
        },
      },
    },
    async (req) => projects.list(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/projects/:id',
    {
      config: { auth: { kind: 'tenant', permission: 'projects:read' } },
      schema: {
        operationId: 'getProject',
        tags: ['projects'],
        params: IdParams,
        response: { 200: Project, ...errors },
      },
    },
    // Not async: the service's promise is the handler's (an async wrapper costs one more per read).
    (req) => projects.get(tenantCtx(req), req.params.id),
  );

  app.patch(
    '/v1/projects/:id',
    {
      config: { auth: { kind: 'tenant', permission: 'projects:update' } },
      schema: {
        operationId: 'updateProject',
        tags: ['projects'],
        params: IdParams,
        body: Type.Object(
          { name: Type.Optional(Name), description: Type.Optional(Description) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Project, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => projects.update(tenantCtx(req), req.params.id, req.body),
  );

  app.delete(
    '/v1/projects/:id',
    {
      config: { auth: { kind: 'tenant', permission: 'projects:delete' } },
      schema: {
        operationId: 'deleteProject',
        tags: ['projects'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await projects.remove(tenantCtx(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
