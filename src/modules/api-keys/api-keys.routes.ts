import { Type } from '@fastify/type-provider-typebox';
import { allPermissions } from '../../platform/authz/permissions.js';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { USERS_ONLY } from '../../platform/http/openapi.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import type { ApiKeysService } from './api-keys.service.js';

const ApiKeyFields = {
  id: Type.String({ format: 'uuid' }),
  keyId: Type.String({ description: 'The public part of the key: srk_<keyId>_…' }),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  rateLimitPerMinute: Type.Union([Type.Integer(), Type.Null()]),
  createdByUserId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  createdByKeyId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};
const ApiKey = Type.Object(ApiKeyFields, { $id: 'ApiKey' });
const CreatedApiKey = Type.Object(
  {
    ...ApiKeyFields,
    secret: Type.Union([Type.String(), Type.Null()], {
      description:
        'The full key, shown in this response only (null in a replay of an idempotent request: it is not stored).',
    }),
  },
  { $id: 'CreatedApiKey' },
);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
/** Unknown permission strings get the service's API_KEY_SCOPES_INVALID, which names them. */
const Scopes = Type.Array(Type.String({ maxLength: 64 }), { maxItems: allPermissions.length * 2 });

/**
 * `/v1/api-keys`: the organization's API keys. Managing them needs `api_keys:manage`; a key's scopes are
 * a subset of its creator's permissions. Also adds the RateLimit-* headers to every response of a request
 * authenticated by an API key.
 */
export function registerApiKeysRoutes(
  app: App,
  deps: {
    apiKeys: ApiKeysService;
    /** 403 EMAIL_NOT_VERIFIED for a user who has not verified their address (REQUIRE_VERIFIED_EMAIL). */
    verifiedEmail: (request: FastifyRequest) => void;
  },
): void {
  const { apiKeys, verifiedEmail } = deps;
  app.post(
    '/v1/api-keys',
    {
      config: { auth: { kind: 'tenant', permission: 'api_keys:manage' } },
      schema: {
        operationId: 'createApiKey',
        security: USERS_ONLY,
        tags: ['api-keys'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
            scopes: Scopes,
            expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
            rateLimitPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: CreatedApiKey, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      verifiedEmail(req);
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      const grantable = req.tenantPermissions;
      if (!grantable) throw new HttpError('INTERNAL', 'route used without tenant auth', 500);
      const { apiKey, replayed } = await apiKeys.create(tenantCtx(req), req.body, grantable, {
        idempotencyKey,
      });
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).header('cache-control', 'no-store').send(apiKey);
    },
  );

  app.get(
    '/v1/api-keys',
    {
      config: { auth: { kind: 'tenant', permission: 'api_keys:manage' }, quotaExempt: true },
      schema: {
        operationId: 'listApiKeys',
        tags: ['api-keys'],
        querystring: PageQuery,
        response: { 200: PageOf(ApiKey), ...errors },
      },
    },
    async (req) => apiKeys.list(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/api-keys/:id',
    {
      config: { auth: { kind: 'tenant', permission: 'api_keys:manage' }, quotaExempt: true },
      schema: {
        operationId: 'getApiKey',
        tags: ['api-keys'],
        params: IdParams,
        response: { 200: ApiKey, ...errors },
      },
    },
    async (req) => apiKeys.get(tenantCtx(req), req.params.id),
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      config: { auth: { kind: 'tenant', permission: 'api_keys:manage' }, quotaExempt: true },
      schema: {
        operationId: 'revokeApiKey',
        tags: ['api-keys'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await apiKeys.revoke(tenantCtx(req), req.params.id);
      return reply.status(204).send(null);
    },
  );
}
