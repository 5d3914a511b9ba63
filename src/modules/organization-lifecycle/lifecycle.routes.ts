import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import type { PlatformActor } from '../../platform/audit/platform-record.js';
import type { OrganizationLifecycleService } from './lifecycle.service.js';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const PendingDeletion = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  personal: Type.Boolean(),
  members: Type.Integer(),
  state: Type.Union([Type.Literal('pending_deletion'), Type.Literal('deleting')]),
  deletionRequestedAt: Type.String({ format: 'date-time' }),
  deletionDueAt: Type.String({ format: 'date-time' }),
});
const actorOf = (req: FastifyRequest): PlatformActor => ({
  actor: authenticated(req).principal,
  requestId: req.id,
  sessionToken: platformSessionOf(req),
});

/** `/v1/platform/organizations/…` of the deletion workflow: platform administrators only. */
export function registerLifecycleRoutes(app: App, deps: { lifecycle: OrganizationLifecycleService }): void {
  const { lifecycle } = deps;
  app.get(
    '/v1/platform/organizations/pending-deletion',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListOrganizationsPendingDeletion',
        tags: ['platform'],
        description:
          'Organizations scheduled for deletion (and being deleted: `deleting`), soonest due first.',
        querystring: PageQuery,
        response: { 200: PageOf(PendingDeletion), ...errors },
      },
    },
    async (req) => lifecycle.listPendingDeletion(actorOf(req), req.query),
  );
  app.post(
    '/v1/platform/organizations/:id/expedite-deletion',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformExpediteOrganizationDeletion',
        tags: ['platform'],
        description:
          'Makes a pending deletion due now (the deletion job runs every 5 minutes), confirmed by the ' +
          "organization's slug. Audited in the platform chain.",
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        body: Type.Object(
          { confirmSlug: Type.String({ minLength: 1, maxLength: 63 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ id: Type.String(), deletionDueAt: Type.String({ format: 'date-time' }) }),
          409: ErrorResponse,
          ...errors,
        },
      },
    },
    async (req) => lifecycle.expediteDeletion(actorOf(req), req.params.id, req.body.confirmSlug),
  );
}
