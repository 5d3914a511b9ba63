import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { authenticated, userIdOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { sessionNotFound } from './auth.errors.js';
import type { SessionService } from './sessions.service.js';

const SessionView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    current: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    lastSeenAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    ip: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'AuthSession' },
);
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse };

/** `/v1/auth/sessions`: the signed-in user's own sessions (list, sign out one). */
export function registerSessionRoutes(app: App, deps: { sessions: SessionService }): void {
  const { sessions } = deps;

  app.get(
    '/v1/auth/sessions',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'listSessions',
        tags: ['auth'],
        querystring: PageQuery,
        response: {
          200: PageOf(SessionView),
          ...errors,
        },
      },
    },
    async (req) => {
      const current = authenticated(req).sessionId;
      const page = await sessions.listForUser(userIdOf(req), req.query);
      return {
        nextCursor: page.nextCursor,
        data: page.data.map((s) => ({
          id: s.id,
          current: s.id === current,
          createdAt: s.createdAt.toISOString(),
          lastSeenAt: s.lastSeenAt.toISOString(),
          expiresAt: new Date(
            Math.min(s.idleExpiresAt.getTime(), s.absoluteExpiresAt.getTime()),
          ).toISOString(),
          userAgent: s.userAgent,
          ip: s.ip,
        })),
      };
    },
  );

  app.delete(
    '/v1/auth/sessions/:id',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'revokeSession',
        tags: ['auth'],
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 204: Type.Null(), 404: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const revoked = await sessions.revoke(req.params.id, { userId: userIdOf(req) });
      if (!revoked) throw sessionNotFound();
      if (req.params.id === authenticated(req).sessionId)
        void reply.header('set-cookie', sessions.clearCookie());
      return reply.status(204).send(null);
    },
  );
}
