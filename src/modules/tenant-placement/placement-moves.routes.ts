import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { authenticated, platformSessionOf } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import type { PlatformActor } from '../../platform/audit/platform-record.js';
import type { PlacementMove } from './tenant-placement.service.js';
import { MAX_MOVES_PAGE, type PlacementMovesAdmin } from './placement-moves.admin.js';

const errors = { 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 503: ErrorResponse };
const Kind = Type.Union([Type.Literal('pooled'), Type.Literal('schema'), Type.Literal('database')]);
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Move = Type.Object({
  id: Type.String(),
  organizationId: Type.String(),
  from: Kind,
  to: Kind,
  databaseKey: Type.Union([Type.String(), Type.Null()], {
    description: 'for a move to `database`: the tenant database key (TENANT_DATABASES)',
  }),
  fromDatabaseKey: Type.Union([Type.String(), Type.Null()], {
    description: 'for a move from `database`: the key of the tenant database the organization leaves',
  }),
  step: Type.String({
    description: 'preparing, copying, switching, cleaning, done; aborting, aborted; failed',
  }),
  requestedBy: Type.String(),
  freezeMs: Nullable(Type.Number()),
  error: Nullable(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  switchedAt: Nullable(Type.String()),
  finishedAt: Nullable(Type.String()),
});
const MoveId = Type.Object({ moveId: Type.String({ maxLength: 64 }) });
const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A move as the API shows it (the copy's per-table progress and checksums stay in the record). */
function view(m: PlacementMove) {
  return {
    id: m.id,
    organizationId: m.organizationId,
    from: m.from,
    to: m.to,
    databaseKey: m.databaseKey,
    fromDatabaseKey: m.fromDatabaseKey,
    step: m.step,
    requestedBy: m.requestedBy,
    freezeMs: m.freezeMs,
    error: m.error,
    createdAt: m.createdAt.toISOString(),
    updatedAt: m.updatedAt.toISOString(),
    switchedAt: iso(m.switchedAt),
    finishedAt: iso(m.finishedAt),
  };
}

/** `/v1/platform/*placement-moves*`: online moves between placements (docs/isolation-models.md). */
export function registerPlacementMoveRoutes(app: App, deps: { moves: PlacementMovesAdmin }): void {
  const actorOf = (req: Parameters<typeof authenticated>[0]): PlatformActor => ({
    actor: authenticated(req).principal,
    requestId: req.id,
    sessionToken: platformSessionOf(req),
  });

  app.post(
    '/v1/platform/organizations/:id/placement-moves',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformStartPlacementMove',
        tags: ['platform'],
        description:
          'Starts an online move of the organization to `to` (`schema`, `pooled`, `database:<key>` or ' +
          '`region:<name>`), from any placement: a `database` placement moves out of its tenant database ' +
          'to pooled, to its own schema or into another tenant database. Answers 202 with the move, which ' +
          'then runs in this server. Idempotent by key: a retry answers the move the key started ' +
          '(`idempotent-replayed: true`). 409 while another move runs, or when the organization is already ' +
          'placed there (the same tenant database included); 422 for another target, or when the target ' +
          "database (or region's), or the tenant database the organization leaves, is not configured here " +
          'with an owner URL.',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object({ to: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
        response: { 202: Move, 400: ErrorResponse, 409: ErrorResponse, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const key = parseIdempotencyKey(req.headers['idempotency-key']);
      const { move, replayed } = await deps.moves.start(actorOf(req), req.params.id, req.body.to, key);
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(202).send(view(move));
    },
  );
  app.get(
    '/v1/platform/placement-moves',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListPlacementMoves',
        tags: ['platform'],
        description: 'Placement moves, newest first; `organizationId` keeps one organization’s.',
        querystring: Type.Object(
          {
            organizationId: Type.Optional(Type.String({ maxLength: 64 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_MOVES_PAGE })),
            cursor: Type.Optional(Type.String({ maxLength: 512 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: PageOf(Move), 400: ErrorResponse, ...errors },
      },
    },
    async (req) => {
      const page = await deps.moves.list(req.query);
      return { data: page.data.map(view), nextCursor: page.nextCursor };
    },
  );
  app.get(
    '/v1/platform/placement-targets',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformListPlacementTargets',
        tags: ['platform'],
        description:
          'The tenant databases an organization can be moved into (or out of) from this server ' +
          '(`database:<key>`: TENANT_DATABASES configured with an owner URL), each with the regions (REGIONS) ' +
          'it holds, by key. ' +
          'A list from configuration, whole (no pages). Empty without an owner role or tenant databases.',
        response: {
          200: Type.Object({
            data: Type.Array(Type.Object({ databaseKey: Type.String(), regions: Type.Array(Type.String()) })),
          }),
          ...errors,
        },
      },
    },
    () => ({ data: deps.moves.targets() }),
  );
  app.get(
    '/v1/platform/placement-moves/:moveId',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformGetPlacementMove',
        tags: ['platform'],
        params: MoveId,
        response: { 200: Move, ...errors },
      },
    },
    async (req) => view(await deps.moves.get(req.params.moveId)),
  );
  app.post(
    '/v1/platform/placement-moves/:moveId/abort',
    {
      config: { auth: { kind: 'platform' } },
      schema: {
        operationId: 'platformAbortPlacementMove',
        tags: ['platform'],
        description:
          'Aborts a running move: before its switch the copy is dropped; after it the organization is ' +
          'moved back (a move with a tenant database on a side first ends, then a move back to where the ' +
          'organization was starts). 202 with the move once the abort is taken; 409 for a move that has ended.',
        params: MoveId,
        response: { 202: Move, 409: ErrorResponse, ...errors },
      },
    },
    async (req, reply) =>
      reply.status(202).send(view(await deps.moves.abort(actorOf(req), req.params.moveId))),
  );
}
