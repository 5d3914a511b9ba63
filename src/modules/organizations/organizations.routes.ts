import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { authenticated, tenantCtx, userIdOf } from '../../platform/http/auth.js';
import { HttpError } from '../../platform/http/http-errors.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import type { OrganizationsService } from './organizations.service.js';

const Organization = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    slug: Type.String(),
    name: Type.String(),
    personal: Type.Boolean(),
    region: Type.Union([Type.String(), Type.Null()], {
      description:
        "the region it was created in: every row of its data lives in that region's database (null: the control database)",
    }),
    settings: Type.Record(Type.String(), Type.Unknown()),
    requireTwoFactor: Type.Boolean(),
    lifecycleState: Type.Union(
      [Type.Literal('active'), Type.Literal('suspended'), Type.Literal('pending_deletion')],
      { description: 'docs/organization-lifecycle.md: pending_deletion is read-only until an owner cancels' },
    ),
    deletionRequestedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    deletionDueAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'when the hard delete may start (null unless pending deletion)',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Organization' },
);
/** The organization as `GET /v1/organization` answers it: with what the caller may do in it. */
const OrganizationForCaller = Type.Object(
  {
    ...Organization.properties,
    role: Type.String({ description: "the caller's role here (`api_key` for an API key)" }),
    permissions: Type.Array(Type.String(), {
      description: 'the permissions the caller holds here, as the server checks them (for hiding controls)',
    }),
  },
  { $id: 'OrganizationForCaller' },
);
const MyOrganization = Type.Object({
  id: Type.String({ format: 'uuid' }),
  slug: Type.String(),
  name: Type.String(),
  personal: Type.Boolean(),
  role: Type.String(),
});
const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Slug = Type.String({
  minLength: 1,
  maxLength: 63,
  pattern: '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$',
});
const Settings = Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), { maxProperties: 100 });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };

/**
 * `/v1/organizations` (a signed-in user: create one, list mine) and `/v1/organization` (the current
 * organization from tenant resolution: read, change, request deletion).
 */
export function registerOrganizationsRoutes(app: App, deps: { organizations: OrganizationsService }): void {
  const { organizations } = deps;

  app.post(
    '/v1/organizations',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'createOrganization',
        tags: ['organizations'],
        description:
          'Creates an organization owned by the caller. At most 10 per user per hour (429 ' +
          '`ORGANIZATION_CREATE_THROTTLED` with Retry-After); a keyed replay does not count.',
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object(
          {
            slug: Slug,
            name: Name,
            region: Type.Optional(
              Type.String({
                minLength: 1,
                maxLength: 63,
                description:
                  'a region of `GET /v1/regions` (default: its `default`); 400 ORGANIZATION_REGION_UNKNOWN',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Organization,
          409: ErrorResponse,
          422: ErrorResponse,
          429: ErrorResponse,
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      const { organization, replayed } = await organizations.create(
        { userId: userIdOf(req), requestId: req.id },
        req.body,
        { idempotencyKey },
      );
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).send(organization);
    },
  );

  app.get(
    '/v1/regions',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'listRegions',
        tags: ['organizations'],
        description:
          'The regions an organization can be created in (data residency, REGIONS) and the default one ' +
          '(DEFAULT_REGION; null: the control database). Empty when the server has none.',
        response: {
          200: Type.Object({
            data: Type.Array(Type.Object({ name: Type.String() })),
            default: Type.Union([Type.String(), Type.Null()]),
          }),
          401: ErrorResponse,
        },
      },
    },
    async () => organizations.regions(),
  );

  app.get(
    '/v1/organizations',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'listMyOrganizations',
        tags: ['organizations'],
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
            cursor: Type.Optional(Type.String({ maxLength: 1024 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            data: Type.Array(MyOrganization),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (req) => {
      const userId = userIdOf(req);
      const proof = authenticated(req).credential;
      // The privileged list answers only for a user the request proves (a live session or token family).
      if (!proof) throw new HttpError('FORBIDDEN', 'this credential cannot list organizations', 403);
      return organizations.listMine(userId, proof, req.query);
    },
  );

  app.get(
    '/v1/organization',
    {
      config: { auth: { kind: 'tenant', permission: 'org:read' }, quotaExempt: true },
      schema: {
        operationId: 'getOrganization',
        tags: ['organizations'],
        response: { 200: OrganizationForCaller, ...errors },
      },
    },
    async (req) => {
      const org = await organizations.get(tenantCtx(req));
      const { tenantRole, tenantPermissions } = req;
      if (tenantRole === undefined || tenantPermissions === undefined) {
        throw new HttpError('INTERNAL', 'tenant route without a resolved role', 500);
      }
      return { ...org, role: tenantRole, permissions: [...tenantPermissions].sort() };
    },
  );

  app.patch(
    '/v1/organization',
    {
      config: { auth: { kind: 'tenant', permission: 'org:update' } },
      schema: {
        operationId: 'updateOrganization',
        tags: ['organizations'],
        body: Type.Object(
          { name: Type.Optional(Name), slug: Type.Optional(Slug), settings: Type.Optional(Settings) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: Organization, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => organizations.update(tenantCtx(req), req.body),
  );

  app.delete(
    '/v1/organization',
    {
      config: { auth: { kind: 'tenant', permission: 'org:delete' } },
      schema: {
        operationId: 'requestOrganizationDeletion',
        tags: ['organizations'],
        description:
          'Schedules the deletion (owners): the organization becomes `pending_deletion`, read-only for its ' +
          'members, and is deleted for good at `deletionDueAt` unless an owner cancels. Every owner is mailed.',
        response: { 202: Organization, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => reply.status(202).send(await organizations.requestDeletion(tenantCtx(req))),
  );

  app.post(
    '/v1/organization/cancel-deletion',
    {
      // A write an organization pending deletion still takes: its owners cancel (org:delete is checked).
      config: { auth: { kind: 'tenant', permission: 'org:delete' }, allowWhenPendingDeletion: true },
      schema: {
        operationId: 'cancelOrganizationDeletion',
        tags: ['organizations'],
        description:
          'Cancels a scheduled deletion (owners): the organization is active again. Every owner is mailed.',
        response: { 200: Organization, 409: ErrorResponse, ...errors },
      },
    },
    async (req) => organizations.cancelDeletion(tenantCtx(req)),
  );
}
