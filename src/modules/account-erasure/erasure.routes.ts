import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf, userIdOf } from '../../platform/http/auth.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { SessionService } from '../auth/sessions.types.js';
import type { ErasureService } from './erasure.service.js';

const EraseAccountBody = Type.Object(
  {
    password: Type.String({ minLength: 1, maxLength: 1024, description: 'the current password' }),
    code: Type.Optional(
      Type.String({
        minLength: 6,
        maxLength: 32,
        pattern: '^[0-9A-Za-z -]+$',
        description: 'a TOTP or recovery code: required when two-factor authentication is on',
      }),
    ),
  },
  { additionalProperties: false },
);
const UserParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
};

/** `DELETE /v1/account` (the user, re-authenticated) and `DELETE /v1/platform/users/:id` (administrators). */
export function registerErasureRoutes(
  app: App,
  deps: { erasure: ErasureService; sessions: Pick<SessionService, 'clearCookie'> },
): void {
  const { erasure } = deps;

  app.delete(
    '/v1/account',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'eraseAccount',
        tags: ['auth'],
        summary: 'Erase my account',
        description:
          'Erases the signed-in user (GDPR): sessions, tokens and the API keys they created revoked, memberships removed, organizations where they were the only member scheduled for deletion, the account anonymized and their personal-data key destroyed (their IP addresses and user agents in audit logs become unreadable; every chain still verifies). Refused with 409 ACCOUNT_LAST_OWNER while they are the only owner of an organization with other members.',
        body: EraseAccountBody,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      const userId = userIdOf(req);
      const proof = authenticated(req).credential;
      if (!proof) throw new HttpError('FORBIDDEN', 'this credential cannot erase an account', 403);
      await erasure.eraseSelf({ userId, requestId: req.id, proof, ip: req.ip }, req.body);
      return reply
        .status(204)
        .header('set-cookie', deps.sessions.clearCookie())
        .header('cache-control', 'no-store')
        .send(null);
    },
  );

  app.delete(
    '/v1/platform/users/:id',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformEraseUser',
        tags: ['platform'],
        summary: 'Erase a user',
        description:
          'Erases a user as `DELETE /v1/account` does, without their password; recorded in the platform audit chain (`user.erased`). Idempotent: an erased user answers 204 again.',
        params: UserParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await erasure.eraseByAdmin(
        { actor: authenticated(req).principal, requestId: req.id, sessionToken: platformSessionOf(req) },
        req.params.id,
      );
      return reply.status(204).send(null);
    },
  );
}
