import { Readable } from 'node:stream';
import { Type, type TSchema } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../../platform/http/server.js';
import { USERS_ONLY } from '../../platform/http/openapi.js';
import { authenticated, tenantCtx, userIdOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import { currentContext } from '../../platform/tenancy/context.js';
import type { AccountActor, AccountExportsService } from './account-exports.service.js';
import type { ExportDownloads } from './export-download.js';
import type { ExportView } from './export-view.js';
import type { OrganizationExportsService } from './organization-exports.service.js';

const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Export = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: Type.Union([
      Type.Literal('queued'),
      Type.Literal('running'),
      Type.Literal('ready'),
      Type.Literal('failed'),
      Type.Literal('expired'),
    ]),
    tablesDone: Type.Integer({
      description: 'Files of the archive written so far (tables, for an organization)',
    }),
    tablesTotal: Type.Integer(),
    rows: Type.Integer({ description: 'Rows exported so far' }),
    sizeBytes: Nullable(Type.Integer()),
    sha256: Nullable(Type.String({ description: 'SHA-256 of the archive (hex)' })),
    error: Nullable(Type.String()),
    createdAt: DateTime,
    startedAt: Nullable(DateTime),
    finishedAt: Nullable(DateTime),
    expiresAt: Nullable(DateTime),
    download: Nullable(
      Type.Object({
        url: Type.String({ description: 'Signed, short-lived, valid only for the user it was made for' }),
        expiresAt: DateTime,
      }),
    ),
  },
  { $id: 'Export' },
);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const IdempotencyHeader = Type.Object({ 'idempotency-key': Type.Optional(Type.String()) });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const EXPORT = { auth: { kind: 'tenant', permission: 'org:export' }, quotaExempt: true } as const;
/** Starting an export stays open while the organization waits for its deletion: owners take their data out. */
const START_EXPORT = { ...EXPORT, allowWhenPendingDeletion: true } as const;

/** The verified user of a `user` route, as the account export service takes it. */
function accountActor(req: FastifyRequest): AccountActor {
  const userId = userIdOf(req);
  return {
    userId,
    principal: authenticated(req).principal,
    requestId: currentContext()?.requestId ?? String(req.id),
  };
}

function created(reply: FastifyReply, result: { export: ExportView; replayed: boolean }) {
  if (result.replayed) void reply.header('idempotent-replayed', 'true');
  return reply.status(202).header('cache-control', 'no-store').send(result.export);
}

/**
 * GDPR exports (docs/gdpr.md): an organization's (`org:export`) and a user's own, each a background job
 * with progress, a paginated history, and a download behind a short-lived link signed for the requester.
 */
export function registerGdprRoutes(
  app: App,
  deps: {
    organizations: OrganizationExportsService;
    accounts: AccountExportsService;
    downloads: ExportDownloads;
  },
): void {
  const { organizations, accounts, downloads } = deps;

  app.post(
    '/v1/organization/export',
    {
      config: START_EXPORT,
      schema: {
        operationId: 'createOrganizationExport',
        summary: 'Export every row of the organization (a background job)',
        security: USERS_ONLY,
        tags: ['gdpr'],
        headers: IdempotencyHeader,
        response: { 202: Export, 409: ErrorResponse, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      userIdOf(req); // a person: the download link is bound to a user
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      return created(reply, await organizations.create(tenantCtx(req), { idempotencyKey }));
    },
  );

  app.get(
    '/v1/organization/exports',
    {
      config: EXPORT,
      schema: {
        operationId: 'listOrganizationExports',
        tags: ['gdpr'],
        querystring: PageQuery,
        response: { 200: PageOf(Export), ...errors },
      },
    },
    async (req) => organizations.list(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/organization/exports/:id',
    {
      config: EXPORT,
      schema: {
        operationId: 'getOrganizationExport',
        summary: 'An export with its progress (and, once ready, a download link for the caller)',
        tags: ['gdpr'],
        params: IdParams,
        response: { 200: Export, ...errors },
      },
    },
    async (req, reply) => {
      const view = await organizations.get(tenantCtx(req), req.params.id);
      return reply.header('cache-control', 'no-store').send(view);
    },
  );

  app.post(
    '/v1/account/export',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'createAccountExport',
        summary: 'Export everything about me, across organizations (a background job)',
        tags: ['gdpr'],
        headers: IdempotencyHeader,
        response: { 202: Export, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      return created(reply, await accounts.create(accountActor(req), { idempotencyKey }));
    },
  );

  app.get(
    '/v1/account/exports',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'listAccountExports',
        tags: ['gdpr'],
        querystring: PageQuery,
        response: { 200: PageOf(Export), ...errors },
      },
    },
    async (req) => accounts.list(accountActor(req), req.query),
  );

  app.get(
    '/v1/account/exports/:id',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'getAccountExport',
        tags: ['gdpr'],
        params: IdParams,
        response: { 200: Export, ...errors },
      },
    },
    async (req, reply) => {
      const view = await accounts.get(accountActor(req), req.params.id);
      return reply.header('cache-control', 'no-store').send(view);
    },
  );

  app.get(
    '/v1/exports/download',
    {
      config: { auth: { kind: 'user' } },
      schema: {
        operationId: 'downloadExport',
        summary: 'Download an export archive through its signed link (only as the user it was signed for)',
        tags: ['gdpr'],
        querystring: Type.Object(
          { token: Type.String({ minLength: 1, maxLength: 2048 }) },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The archive: JSON Lines per table and manifest.json',
            content: {
              'application/zip': { schema: Type.Unsafe<Readable>({ type: 'string', format: 'binary' }) },
            },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { filename, size, chunks } = await downloads.download(accountActor(req), req.query.token);
      void reply
        .header('content-type', 'application/zip')
        .header('content-disposition', `attachment; filename="${filename}"`)
        .header('content-length', String(size))
        .header('cache-control', 'private, no-store');
      // Streamed a chunk at a time from the database (never the whole archive in memory).
      return reply.send(Readable.from(chunks, { objectMode: false }));
    },
  );
}
