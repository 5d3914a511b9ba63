import { Type } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf, tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import type { PlatformActor } from '../../platform/audit/platform-record.js';
import type { TenantKeysService } from './tenant-keys.service.js';

const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const OrganizationKeys = Type.Object(
  {
    versions: Type.Array(
      Type.Object({
        version: Type.Integer({ minimum: 1 }),
        state: Type.Union([Type.Literal('active'), Type.Literal('retired'), Type.Literal('destroyed')]),
      }),
      { maxItems: 1000 },
    ),
    reencryptionPending: Type.Boolean(),
    unreadableValues: Type.Object(
      {
        count: Type.Integer({ minimum: 0 }),
        values: Type.Array(
          Type.Object({
            table: Type.String(),
            column: Type.String(),
            rowId: Type.String(),
            keyVersion: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
            firstSeenAt: Type.String({ format: 'date-time' }),
            lastSeenAt: Type.String({ format: 'date-time' }),
          }),
          { maxItems: 50, description: 'the most recently seen first' },
        ),
      },
      {
        description:
          'Sealed values the re-encryption could not open under the key version they name (altered or ' +
          'corrupted): recorded and skipped, never retried; they stay unreadable. Never the values themselves.',
      },
    ),
  },
  { $id: 'OrganizationKeys' },
);
const KekRotation = Type.Object(
  {
    provider: Type.String(),
    currentKekId: Type.String(),
    total: Type.Integer({ minimum: 0, description: 'live data keys' }),
    done: Type.Integer({ minimum: 0, description: 'live data keys wrapped by the current KEK' }),
  },
  { $id: 'KekRotation' },
);
const actorOf = (req: FastifyRequest): PlatformActor => ({
  actor: authenticated(req).principal,
  requestId: req.id,
  sessionToken: platformSessionOf(req),
});

/** An organization's data keys (owner rotation) and the platform's KEK rotation. docs/encryption.md. */
export function registerTenantKeyRoutes(app: App, deps: { tenantKeys: TenantKeysService }): void {
  const { tenantKeys } = deps;
  app.get(
    '/v1/organization/keys',
    {
      config: { auth: { kind: 'tenant', permission: 'org:read' } },
      schema: {
        operationId: 'getOrganizationKeys',
        tags: ['organizations', 'encryption'],
        description:
          "The versions of the organization's data key (states only; no key material ever leaves the server).",
        response: { 200: OrganizationKeys, ...errors },
      },
    },
    async (req) => tenantKeys.keys(tenantCtx(req)),
  );
  app.post(
    '/v1/organization/keys/rotate',
    {
      config: { auth: { kind: 'tenant', permission: 'org:delete' } },
      schema: {
        operationId: 'rotateOrganizationKey',
        tags: ['organizations', 'encryption'],
        description:
          'A new data key version, active at once. Values sealed under older versions are re-encrypted in ' +
          'the background (resumable); the old versions are destroyed when that is done. Owners only ' +
          '(`org:delete`); audited as `organization.data_key_rotated`. Repeating it is harmless.',
        response: { 202: OrganizationKeys, ...errors },
      },
    },
    async (req, reply) => reply.status(202).send(await tenantKeys.rotate(tenantCtx(req))),
  );
  app.post(
    '/v1/platform/organizations/:id/keys/rotate',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformRotateOrganizationKey',
        tags: ['platform', 'encryption'],
        description:
          "Rotates an organization's data key as `POST /v1/organization/keys/rotate` does; audited in that " +
          "organization's chain with the administrator as actor.",
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 202: OrganizationKeys, ...errors },
      },
    },
    async (req, reply) =>
      reply.status(202).send(await tenantKeys.rotateAsPlatform(actorOf(req), req.params.id)),
  );
  app.get(
    '/v1/platform/encryption/kek-rotation',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformGetKekRotation',
        tags: ['platform', 'encryption'],
        description:
          'KEK rotation progress: how many live data keys exist and how many are wrapped by the current KEK ' +
          '(done = total: the previous KEK may be removed from KEK_PREVIOUS).',
        response: { 200: KekRotation, ...errors },
      },
    },
    async () => tenantKeys.kekStatus(),
  );
  app.post(
    '/v1/platform/encryption/kek-rotation',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformStartKekRotation',
        tags: ['platform', 'encryption'],
        description:
          'Queues the background job re-wrapping every data key under the current KEK (resumable, no ' +
          'downtime: previous KEKs keep opening until it is done). Audited in the platform chain.',
        response: { 202: KekRotation, ...errors },
      },
    },
    async (req, reply) => reply.status(202).send(await tenantKeys.startKekRotation(actorOf(req))),
  );
}
