import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { PlatformAuditService } from './platform-audit.service.js';
import { AuditEvent, ChainBreakFields } from './audit.routes.js';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse };

/** `/v1/platform/audit-logs`: the platform chain, for platform administrators. */
export function registerPlatformAuditRoutes(app: App, deps: { platformAudit: PlatformAuditService }): void {
  app.get(
    '/v1/platform/audit-logs',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListAuditLogs',
        tags: ['platform', 'audit'],
        querystring: Type.Object(
          {
            action: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9_.]*(\\.\\*)?$', maxLength: 100 })),
            ...PageQuery.properties,
          },
          { additionalProperties: false },
        ),
        response: { 200: PageOf(AuditEvent), ...errors },
      },
    },
    async (req) => {
      const { limit, cursor, action } = req.query;
      return deps.platformAudit.list(action === undefined ? {} : { action }, { limit, cursor });
    },
  );

  app.get(
    '/v1/platform/audit-logs/verify',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformVerifyAuditLog',
        tags: ['platform', 'audit'],
        response: {
          200: Type.Object({
            valid: Type.Boolean(),
            entriesChecked: Type.Integer(),
            lastSeq: Type.Integer(),
            headHash: Type.String(),
            firstBrokenSeq: Type.Union([Type.Integer(), Type.Null()]),
            reason: Type.Union([Type.String(), Type.Null()]),
            detail: Type.Union([Type.String(), Type.Null()]),
            ...ChainBreakFields,
          }),
          ...errors,
        },
      },
    },
    async () => deps.platformAudit.verify(),
  );
}
