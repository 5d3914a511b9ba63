import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { FlagDefinitionsService, PlatformActor } from './flag-definitions.service.js';
import { FlagDefinitionSchema, FlagInputBody, FlagPatchBody } from './flag-schemas.js';

const KeyParams = Type.Object({ key: Type.String({ maxLength: 200 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const actorOf = (req: FastifyRequest): PlatformActor => ({
  actor: authenticated(req).principal,
  requestId: req.id,
  sessionToken: platformSessionOf(req),
});

/** `/v1/platform/flags`: flag definitions, platform administrators only. */
export function registerFlagDefinitionsRoutes(app: App, deps: { definitions: FlagDefinitionsService }): void {
  const { definitions } = deps;

  app.get(
    '/v1/platform/flags',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListFlags',
        tags: ['platform', 'flags'],
        querystring: PageQuery,
        response: { 200: PageOf(FlagDefinitionSchema), ...errors },
      },
    },
    async (req) => definitions.list(req.query),
  );

  app.post(
    '/v1/platform/flags',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformCreateFlag',
        tags: ['platform', 'flags'],
        body: FlagInputBody,
        response: { 201: FlagDefinitionSchema, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => reply.status(201).send(await definitions.create(actorOf(req), req.body)),
  );

  app.get(
    '/v1/platform/flags/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformGetFlag',
        tags: ['platform', 'flags'],
        params: KeyParams,
        response: { 200: FlagDefinitionSchema, ...errors },
      },
    },
    async (req) => definitions.get(req.params.key),
  );

  app.patch(
    '/v1/platform/flags/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformUpdateFlag',
        tags: ['platform', 'flags'],
        params: KeyParams,
        body: FlagPatchBody,
        response: { 200: FlagDefinitionSchema, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => definitions.update(actorOf(req), req.params.key, req.body),
  );

  app.delete(
    '/v1/platform/flags/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformDeleteFlag',
        tags: ['platform', 'flags'],
        params: KeyParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await definitions.remove(actorOf(req), req.params.key);
      return reply.status(204).send(null);
    },
  );
}
