import { Type, type TSchema } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import type { WebhooksService } from './webhooks.service.js';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const EndpointFields = {
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  description: Type.String(),
  eventTypes: Type.Array(Type.String()),
  enabled: Type.Boolean(),
  disabledReason: Nullable(Type.Union([Type.Literal('manual'), Type.Literal('failing')])),
  failingSince: Nullable(Type.String({ format: 'date-time' })),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
};
const Endpoint = Type.Object(EndpointFields, { $id: 'WebhookEndpoint' });
const CreatedEndpoint = Type.Object(
  {
    ...EndpointFields,
    secret: Nullable(
      Type.String({
        description:
          'The signing secret (whsec_…), shown in this response only (null in a replay of an idempotent request).',
      }),
    ),
  },
  { $id: 'CreatedWebhookEndpoint' },
);
const Attempt = Type.Object({
  attempt: Type.Integer(),
  trigger: Type.Union([Type.Literal('automatic'), Type.Literal('manual')]),
  startedAt: Type.String({ format: 'date-time' }),
  durationMs: Type.Integer(),
  responseStatus: Nullable(Type.Integer()),
  responseBody: Nullable(Type.String()),
  error: Nullable(Type.String()),
});
const Delivery = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    eventId: Type.String({ format: 'uuid' }),
    eventType: Type.String(),
    webhookId: Type.String({ description: 'The webhook-id header of every attempt of this delivery.' }),
    status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('dead')]),
    attempts: Type.Integer(),
    nextAttemptAt: Nullable(Type.String({ format: 'date-time' })),
    lastStatus: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
    succeededAt: Nullable(Type.String({ format: 'date-time' })),
    log: Type.Array(Attempt),
  },
  { $id: 'WebhookDelivery' },
);
const EventTypes = Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 50 });
const Url = Type.String({ minLength: 8, maxLength: 2000 });
const Description = Type.String({ maxLength: 500 });
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const auth = { auth: { kind: 'tenant', permission: 'webhooks:manage' } } as const;

/** `/v1/webhooks/…`: the organization's webhook endpoints and their delivery log (`webhooks:manage`). */
export function registerWebhooksRoutes(app: App, deps: { webhooks: WebhooksService }): void {
  const { webhooks } = deps;

  app.get(
    '/v1/webhooks/event-types',
    {
      config: auth,
      schema: {
        operationId: 'listWebhookEventTypes',
        summary: 'The event types an endpoint can filter on (`*` and `<resource>.*` also match).',
        tags: ['webhooks'],
        response: { 200: Type.Object({ data: Type.Array(Type.String()) }), ...errors },
      },
    },
    async () => ({ data: [...webhooks.eventTypes()] }),
  );

  app.post(
    '/v1/webhooks/endpoints',
    {
      config: auth,
      schema: {
        operationId: 'createWebhookEndpoint',
        tags: ['webhooks'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object(
          {
            url: Url,
            eventTypes: EventTypes,
            description: Type.Optional(Description),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: CreatedEndpoint, 409: ErrorResponse, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      const { endpoint, secret, replayed } = await webhooks.create(tenantCtx(req), req.body, {
        idempotencyKey,
      });
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply
        .status(201)
        .header('cache-control', 'no-store')
        .send({ ...endpoint, secret });
    },
  );

  app.get(
    '/v1/webhooks/endpoints',
    {
      config: auth,
      schema: {
        operationId: 'listWebhookEndpoints',
        tags: ['webhooks'],
        querystring: PageQuery,
        response: { 200: PageOf(Endpoint), ...errors },
      },
    },
    async (req) => webhooks.list(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/webhooks/endpoints/:id',
    {
      config: auth,
      schema: {
        operationId: 'getWebhookEndpoint',
        tags: ['webhooks'],
        params: IdParams,
        response: { 200: Endpoint, ...errors },
      },
    },
    async (req) => webhooks.get(tenantCtx(req), req.params.id),
  );

  app.patch(
    '/v1/webhooks/endpoints/:id',
    {
      config: auth,
      schema: {
        operationId: 'updateWebhookEndpoint',
        tags: ['webhooks'],
        params: IdParams,
        body: Type.Object(
          {
            url: Type.Optional(Url),
            eventTypes: Type.Optional(EventTypes),
            description: Type.Optional(Description),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Endpoint, ...errors },
      },
    },
    async (req) => webhooks.update(tenantCtx(req), req.params.id, req.body),
  );

  app.delete(
    '/v1/webhooks/endpoints/:id',
    {
      config: auth,
      schema: {
        operationId: 'deleteWebhookEndpoint',
        tags: ['webhooks'],
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await webhooks.remove(tenantCtx(req), req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/webhooks/endpoints/:id/rotate-secret',
    {
      config: auth,
      schema: {
        operationId: 'rotateWebhookSecret',
        summary:
          'A new signing secret, shown once; the old one keeps signing beside it until previousSecretExpiresAt ' +
          '(WEBHOOK_SECRET_OVERLAP_HOURS, default 24 h), then stops.',
        tags: ['webhooks'],
        params: IdParams,
        response: {
          200: Type.Object({
            secret: Type.String(),
            previousSecretExpiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
              description: 'until when the replaced secret also signs (null: no overlap configured)',
            }),
          }),
          ...errors,
        },
      },
    },
    async (req, reply) =>
      reply
        .header('cache-control', 'no-store')
        .send(await webhooks.rotateSecret(tenantCtx(req), req.params.id)),
  );

  app.get(
    '/v1/webhooks/endpoints/:id/deliveries',
    {
      config: auth,
      schema: {
        operationId: 'listWebhookDeliveries',
        summary: 'The delivery log of an endpoint, newest first, each with its last 20 attempts.',
        tags: ['webhooks'],
        params: IdParams,
        querystring: PageQuery,
        response: { 200: PageOf(Delivery), ...errors },
      },
    },
    async (req) => webhooks.deliveries(tenantCtx(req), req.params.id, req.query),
  );

  app.post(
    '/v1/webhooks/deliveries/:id/redeliver',
    {
      config: auth,
      schema: {
        operationId: 'redeliverWebhook',
        summary: 'Sends a delivery again now, with the same webhook-id.',
        tags: ['webhooks'],
        params: IdParams,
        response: { 202: Type.Null(), 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      await webhooks.redeliver(tenantCtx(req), req.params.id);
      return reply.status(202).send(null);
    },
  );
}
