import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { UsageEventsService } from './usage-events.service.js';
import type { UsageSummaryService } from './usage-summary.service.js';

/** Most events in one ingestion request. */
export const MAX_BATCH = 1000;

const PropertyValue = Type.Union([
  Type.String({ maxLength: 256 }),
  Type.Number(),
  Type.Boolean(),
  Type.Null(),
]);
const UsageEvent = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    meter: Type.String({ minLength: 1, maxLength: 64 }),
    value: Type.Optional(Type.Union([Type.Number(), Type.String({ maxLength: 40 })])),
    timestamp: Type.String({ maxLength: 40, description: 'ISO 8601 date-time with an offset or Z' }),
    properties: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$' }), PropertyValue, {
        maxProperties: 32,
      }),
    ),
  },
  { additionalProperties: false },
);
const Outcome = Type.Object({
  index: Type.Integer(),
  id: Type.String(),
  status: Type.Union([
    Type.Literal('accepted'),
    Type.Literal('duplicate'),
    Type.Literal('conflict'),
    Type.Literal('error'),
  ]),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/** `/v1/usage/*`: event ingestion (API keys with `usage:write`, members with it) and summaries. */
export function registerUsageRoutes(
  app: App,
  deps: { usageEvents: UsageEventsService; usageSummary: UsageSummaryService },
): void {
  app.post(
    '/v1/usage/events',
    {
      config: { auth: { kind: 'tenant', permission: 'usage:write' } },
      schema: {
        operationId: 'ingestUsageEvents',
        tags: ['usage'],
        description:
          'Records 1 to 1,000 usage events for the organization of the credentials. `id` is the ' +
          'idempotency key within the organization: a repeat is `duplicate` (never counted twice), the ' +
          'same id with another payload is `conflict`. Events older than the lateness window or more than ' +
          '5 minutes ahead get a per-event error and are not stored; the rest of the batch is. 400 only ' +
          'for a malformed request as a whole.',
        body: Type.Object(
          { events: Type.Array(UsageEvent, { minItems: 1, maxItems: MAX_BATCH }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            accepted: Type.Integer(),
            duplicates: Type.Integer(),
            conflicts: Type.Integer(),
            errors: Type.Integer(),
            results: Type.Array(Outcome),
          }),
          ...errors,
        },
      },
    },
    (req) => deps.usageEvents.ingest(tenantCtx(req), req.body.events),
  );

  app.get(
    '/v1/usage/summary',
    {
      config: { auth: { kind: 'tenant', permission: 'usage:read' }, quotaExempt: true },
      schema: {
        operationId: 'getUsageSummary',
        tags: ['usage'],
        description:
          'The buckets of one meter in [from, to), from the aggregates (UTC buckets; `from` is rounded ' +
          'down to its bucket). At most 1,440 minute, 744 hour or 366 day buckets per request. Values ' +
          'are exact decimals as strings.',
        querystring: Type.Object(
          {
            meter: Type.String({ maxLength: 64 }),
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            granularity: Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')]),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            meter: Type.String(),
            aggregation: Type.String(),
            unit: Type.String(),
            granularity: Type.String(),
            from: Type.String({ format: 'date-time' }),
            to: Type.String({ format: 'date-time' }),
            buckets: Type.Array(
              Type.Object({
                start: Type.String({ format: 'date-time' }),
                value: Type.String(),
                events: Type.Integer(),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    (req) => deps.usageSummary.summary(tenantCtx(req), req.query),
  );
}
