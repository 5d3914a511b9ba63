import { Type } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { SESSION_ONLY } from '../../platform/http/openapi.js';
import { authenticated, userIdOf } from '../../platform/http/auth.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { TokenService } from './tokens.service.js';

const TokenPair = Type.Object(
  {
    accessToken: Type.String(),
    refreshToken: Type.String(),
    expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
    tokenType: Type.Literal('Bearer'),
  },
  { $id: 'TokenPair' },
);
const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.Literal('OKP'),
      crv: Type.Literal('Ed25519'),
      x: Type.String(),
      kid: Type.String(),
      alg: Type.Literal('EdDSA'),
      use: Type.Literal('sig'),
    }),
  ),
});
const RefreshBody = Type.Object(
  { refreshToken: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
);
const errors = { 400: ErrorResponse, 401: ErrorResponse };

/** Token responses are credentials: never cached anywhere (RFC 6749 §5.1). */
const noStore = (reply: FastifyReply) =>
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

/** `/.well-known/jwks.json` and `/v1/auth/token*`: API client tokens. */
export function registerTokensRoutes(
  app: App,
  deps: {
    tokens: TokenService;
    /** 403 EMAIL_NOT_VERIFIED for a user who has not verified their address (REQUIRE_VERIFIED_EMAIL). */
    verifiedEmail: (request: FastifyRequest) => void;
  },
): void {
  const { tokens, verifiedEmail } = deps;

  app.get(
    '/.well-known/jwks.json',
    {
      config: { auth: { kind: 'public', reason: 'public keys that verify access tokens' } },
      schema: {
        operationId: 'getJwks',
        tags: ['auth'],
        response: { 200: Jwks },
      },
    },
    async (_req, reply) => {
      void reply.header('cache-control', 'public, max-age=300');
      return tokens.jwks();
    },
  );

  app.post(
    '/v1/auth/token',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'issueToken',
        security: SESSION_ONLY,
        tags: ['auth'],
        description:
          'A signed-in user (session) with a verified email address obtains API tokens for one of their ' +
          'organizations. Signing that session out revokes them.',
        body: Type.Object(
          { organizationId: Type.String({ format: 'uuid', maxLength: 36 }) },
          { additionalProperties: false },
        ),
        response: { 200: TokenPair, 403: ErrorResponse, 404: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      // Only a session may start a token family: a leaked access token must not mint a 30-day one.
      const { sessionId } = authenticated(req);
      if (sessionId === null) {
        throw new HttpError('FORBIDDEN', 'tokens are issued to signed-in sessions only', 403);
      }
      verifiedEmail(req);
      const pair = await tokens.issue(userIdOf(req), req.body.organizationId, { sessionId });
      noStore(reply);
      return pair;
    },
  );

  app.post(
    '/v1/auth/token/refresh',
    {
      config: { auth: { kind: 'public', reason: 'the refresh token in the body is the credential' } },
      schema: {
        operationId: 'refreshToken',
        tags: ['auth'],
        body: RefreshBody,
        response: { 200: TokenPair, ...errors },
      },
    },
    async (req, reply) => {
      const pair = await tokens.refresh(req.body.refreshToken);
      noStore(reply);
      return pair;
    },
  );

  app.post(
    '/v1/auth/token/revoke',
    {
      config: { auth: { kind: 'public', reason: 'the refresh token in the body is the credential' } },
      schema: {
        operationId: 'revokeToken',
        tags: ['auth'],
        description: 'Revokes the refresh token and its whole family. Same answer whether it existed or not.',
        body: RefreshBody,
        response: { 200: Type.Object({ ok: Type.Literal(true) }), 400: ErrorResponse },
      },
    },
    async (req, reply) => {
      await tokens.revoke(req.body.refreshToken);
      noStore(reply);
      return { ok: true as const };
    },
  );
}
