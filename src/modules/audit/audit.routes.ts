import { Readable } from 'node:stream';
import { Type, type Static } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { AUDIT_EXPORTS_PER_MINUTE, AUDIT_VERIFICATIONS_PER_MINUTE } from './audit-verify-limit.js';
import type { AuditFilter, AuditService } from './audit.service.js';
import { AuditError } from './audit.errors.js';

const Actor = Type.Object({
  type: Type.Union([
    Type.Literal('user'),
    Type.Literal('api_key'),
    Type.Literal('system'),
    Type.Literal('anonymous'),
  ]),
  id: Type.Union([Type.String(), Type.Null()]),
});
/** An audit event in responses (organization and platform chains alike). */
export const AuditEvent = Type.Object(
  {
    seq: Type.Integer(),
    id: Type.String({ format: 'uuid' }),
    occurredAt: Type.String({ format: 'date-time' }),
    actor: Actor,
    action: Type.String(),
    target: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
    ip: Type.Union([Type.String(), Type.Null()]),
    userAgent: Type.Union([Type.String(), Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
    changes: Type.Unknown(),
    metadata: Type.Unknown(),
    erased: Type.Array(Type.String(), {
      description:
        'personal fields (`ip`, `user_agent`, `metadata.<key>`) sealed under the key of a user since erased: shown as null',
    }),
    prevHash: Type.String(),
    hash: Type.String(),
  },
  { $id: 'AuditEvent' },
);
const Checkpoint = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    statement: Type.Object({
      v: Type.Union([Type.Literal(1), Type.Literal(2)], {
        description: 'statement version: 2 states `retention_days`; 1 (signed before it existed) does not',
      }),
      organization_id: Type.String({ format: 'uuid' }),
      seq: Type.Integer(),
      head_hash: Type.String(),
      signed_at: Type.String({ format: 'date-time' }),
      key_id: Type.String(),
      retention_days: Type.Optional(
        Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
          description:
            'version 2: the audit retention in force when signed (days; null: kept forever), the bound verification holds a retention purge’s cut to',
        }),
      ),
    }),
    signature: Type.String({
      description: 'Ed25519 signature (base64url) of the canonical JSON of `statement`',
    }),
  },
  { $id: 'AuditCheckpoint' },
);
/** Every break a verification found (beside the first: `firstBrokenSeq`, `reason`, `detail`). */
export const ChainBreakFields = {
  breaks: Type.Array(Type.Object({ seq: Type.Integer(), reason: Type.String(), detail: Type.String() }), {
    description:
      'every break found, lowest seq first (at most 100): the check goes on past a break, so an earlier broken entry never hides a later one',
  }),
  breaksTruncated: Type.Boolean({ description: 'more breaks were found than `breaks` lists' }),
};
const Verification = Type.Object({
  organizationId: Type.String({ format: 'uuid' }),
  valid: Type.Boolean(),
  anchorSeq: Type.Union([Type.Integer(), Type.Null()], {
    description:
      'the signed checkpoint the kept entries start from once the audit retention purged older ones (null: from the first entry); with the reason `cut_before_retention`, a checkpoint signed too recently for the purge to have cut there',
  }),
  entriesChecked: Type.Integer(),
  lastSeq: Type.Integer(),
  headHash: Type.String(),
  checkpointsChecked: Type.Integer(),
  checkpointsUnverifiable: Type.Integer({
    description: 'checkpoints signed by a key this server does not know',
  }),
  firstBrokenSeq: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
  ...ChainBreakFields,
  unsealed: Type.Object(
    {
      count: Type.Integer({ description: 'events recorded but not sealed into the chain yet' }),
      oldestOccurredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    },
    {
      description:
        'events committed after this verification sealed the chain (sealed within seconds; not covered by it)',
    },
  ),
});
const KeyFields = {
  keyId: Type.String(),
  algorithm: Type.Literal('Ed25519'),
  jwk: Type.Record(Type.String(), Type.Unknown()),
  pem: Type.String(),
};
const PublicKey = Type.Object({
  ...KeyFields,
  retired: Type.Array(Type.Object(KeyFields), {
    description: 'rotated-out keys: checkpoints signed with them still verify',
  }),
});

const FilterFields = {
  actor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'actor id (user, API key or system name)' }),
  ),
  actorType: Type.Optional(
    Type.Union([
      Type.Literal('user'),
      Type.Literal('api_key'),
      Type.Literal('system'),
      Type.Literal('anonymous'),
    ]),
  ),
  action: Type.Optional(
    Type.String({
      pattern: '^[a-z][a-z0-9_.]*(\\.\\*)?$',
      maxLength: 100,
      description: 'exact, or a prefix like `member.*`',
    }),
  ),
  targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  from: Type.Optional(Type.String({ format: 'date-time', description: 'inclusive' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'exclusive' })),
};
const ListQuery = Type.Object({ ...FilterFields, ...PageQuery.properties }, { additionalProperties: false });
const ExportQuery = Type.Object(
  { ...FilterFields, format: Type.Optional(Type.Union([Type.Literal('jsonl'), Type.Literal('csv')])) },
  { additionalProperties: false },
);
type FilterQuery = Static<typeof ExportQuery>;

function dateOf(value: string, name: string): Date {
  const d = new Date(value);
  // The date-time format admits what Date cannot hold (a leap second, year 0): refuse it here.
  if (Number.isNaN(d.getTime())) throw new AuditError('INVALID_AUDIT_FILTER', `${name} is not a valid time`);
  return d;
}

const filterOf = (q: FilterQuery): AuditFilter => ({
  ...(q.actor !== undefined && { actorId: q.actor }),
  ...(q.actorType !== undefined && { actorType: q.actorType }),
  ...(q.action !== undefined && { action: q.action }),
  ...(q.targetType !== undefined && { targetType: q.targetType }),
  ...(q.targetId !== undefined && { targetId: q.targetId }),
  ...(q.from !== undefined && { from: dateOf(q.from, 'from') }),
  ...(q.to !== undefined && { to: dateOf(q.to, 'to') }),
});

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const READ = { auth: { kind: 'tenant', permission: 'audit:read' } } as const;

/** `/v1/audit-logs`: list, export, verify, checkpoints and the published checkpoint key. */
export function registerAuditRoutes(app: App, deps: { audit: AuditService }): void {
  const { audit } = deps;

  app.get(
    '/v1/audit-logs',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'listAuditLogs',
        tags: ['audit'],
        querystring: ListQuery,
        response: { 200: PageOf(AuditEvent), ...errors },
      },
    },
    async (req) => {
      const { limit, cursor, ...f } = req.query;
      return audit.list(tenantCtx(req), filterOf(f), { limit, cursor });
    },
  );

  app.get(
    '/v1/audit-logs/export',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'exportAuditLogs',
        tags: ['audit'],
        description:
          'Every matching event oldest first: JSON Lines (default) or CSV, streamed. At most ' +
          `${AUDIT_EXPORTS_PER_MINUTE} exports start per organization per minute on each server instance ` +
          '(429 `RATE_LIMITED` with `Retry-After` beyond, before anything is sent).',
        querystring: ExportQuery,
        response: {
          200: {
            description: 'The matching events, streamed in the requested format',
            content: {
              // The handler sends a stream: typed as one, documented as the text it carries.
              'application/jsonl': {
                schema: Type.Unsafe<Readable>({
                  type: 'string',
                  description: 'one AuditEvent JSON object per line (`format=jsonl`)',
                }),
              },
              'text/csv': {
                schema: Type.Unsafe<Readable>({
                  type: 'string',
                  description: 'a header row, then one event per row (`format=csv`)',
                }),
              },
            },
          },
          429: ErrorResponse,
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { format = 'jsonl', ...f } = req.query;
      const stream = Readable.from(audit.export(tenantCtx(req), filterOf(f), format));
      const ext = format === 'csv' ? 'csv' : 'jsonl';
      void reply
        .header(
          'content-type',
          format === 'csv' ? 'text/csv; charset=utf-8' : 'application/jsonl; charset=utf-8',
        )
        .header('content-disposition', `attachment; filename="audit-log.${ext}"`)
        .header('cache-control', 'no-store');
      return reply.send(stream);
    },
  );

  app.get(
    '/v1/audit-logs/verify',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'verifyAuditLog',
        tags: ['audit'],
        description:
          'Recomputes the hash chain, checks the head and every checkpoint signature. Calls arriving ' +
          'while one runs for the organization share its result; at most ' +
          `${AUDIT_VERIFICATIONS_PER_MINUTE} verifications start per organization per minute on each ` +
          'server instance (429 `RATE_LIMITED` with `Retry-After` beyond).',
        response: { 200: Verification, 429: ErrorResponse, ...errors },
      },
    },
    async (req) => audit.verify(tenantCtx(req)),
  );

  app.post(
    '/v1/audit-logs/checkpoints',
    {
      config: READ,
      schema: {
        operationId: 'createAuditCheckpoint',
        tags: ['audit'],
        description:
          'Signs the current chain head now (200 with the latest checkpoint if the head has not moved).',
        response: { 200: Checkpoint, 201: Checkpoint, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const { checkpoint, created } = await audit.checkpoint(tenantCtx(req));
      return reply.status(created ? 201 : 200).send(checkpoint);
    },
  );

  app.get(
    '/v1/audit-logs/checkpoints',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'listAuditCheckpoints',
        tags: ['audit'],
        querystring: PageQuery,
        response: { 200: PageOf(Checkpoint), ...errors },
      },
    },
    async (req) => audit.listCheckpoints(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/audit-logs/public-key',
    {
      config: {
        auth: { kind: 'public', reason: 'the checkpoint key is published so anyone can verify an export' },
      },
      schema: { operationId: 'getAuditPublicKey', tags: ['audit'], response: { 200: PublicKey } },
    },
    async () => audit.publicKey(),
  );
}
