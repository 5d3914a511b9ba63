import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf } from '../../platform/http/auth.js';
import type { PlatformActor } from '../../platform/audit/platform-record.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { MetersService } from './meters.service.js';

const Aggregation = Type.Union([
  Type.Literal('count'),
  Type.Literal('sum'),
  Type.Literal('max'),
  Type.Literal('unique_count'),
  Type.Literal('latest'),
]);
const Meter = Type.Object(
  {
    key: Type.String(),
    aggregation: Aggregation,
    property: Type.Union([Type.String(), Type.Null()]),
    unit: Type.String(),
    description: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    archivedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Meter' },
);
const Key = Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$' });
const Params = Type.Object({ key: Type.String({ maxLength: 64 }) });
const Unit = Type.String({ maxLength: 32 });
const Description = Type.String({ maxLength: 500 });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

const actorOf = (req: FastifyRequest): PlatformActor => ({
  actor: authenticated(req).principal,
  requestId: req.id,
  sessionToken: platformSessionOf(req),
});

/** `/v1/platform/meters`: the meter catalog, platform administrators only. */
export function registerMetersRoutes(app: App, deps: { meters: MetersService }): void {
  const { meters } = deps;
  app.get(
    '/v1/platform/meters',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListMeters',
        tags: ['platform', 'usage'],
        querystring: PageQuery,
        response: { 200: PageOf(Meter), ...errors },
      },
    },
    async (req) => meters.list(req.query),
  );
  app.post(
    '/v1/platform/meters',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformCreateMeter',
        tags: ['platform', 'usage'],
        description:
          'Creates a meter. Idempotent by key: the same definition again answers 200 with the stored ' +
          'meter (`idempotent-replayed: true`); a different definition under that key is 409.',
        body: Type.Object(
          {
            key: Key,
            aggregation: Aggregation,
            property: Type.Optional(
              Type.Union([Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$' }), Type.Null()]),
            ),
            unit: Type.Optional(Unit),
            description: Type.Optional(Description),
          },
          { additionalProperties: false },
        ),
        response: { 200: Meter, 201: Meter, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const { meter, replayed } = await meters.create(actorOf(req), req.body);
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(replayed ? 200 : 201).send(meter);
    },
  );
  app.get(
    '/v1/platform/meters/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformGetMeter',
        tags: ['platform', 'usage'],
        params: Params,
        response: { 200: Meter, ...errors },
      },
    },
    async (req) => meters.get(req.params.key),
  );
  app.patch(
    '/v1/platform/meters/:key',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformUpdateMeter',
        tags: ['platform', 'usage'],
        description: 'Unit and description only: a meter’s aggregation and property never change.',
        params: Params,
        body: Type.Object(
          { unit: Type.Optional(Unit), description: Type.Optional(Description) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Meter, ...errors },
      },
    },
    async (req) => meters.update(actorOf(req), req.params.key, req.body),
  );
  app.post(
    '/v1/platform/meters/:key/archive',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformArchiveMeter',
        tags: ['platform', 'usage'],
        description: 'New events for an archived meter are refused (`METER_ARCHIVED`); its usage stays.',
        params: Params,
        response: { 200: Meter, ...errors },
      },
    },
    async (req) => meters.archive(actorOf(req), req.params.key),
  );
}
