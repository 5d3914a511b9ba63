import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import SCIMMY from 'scimmy';
import type { Logger } from 'pino';
import type { App } from '../../platform/http/server.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { authenticateScim, type ScimAdmission, type ScimTokenLookup } from './scim-auth.js';
import { ScimError } from './scim.errors.js';
import type { ScimRateLimiter } from './scim-rate-limit.js';
import { LIST_SCHEMA } from './scim-resources.js';
import type { ScimGroupsService } from './scim-groups.service.js';
import type { ScimUsersService } from './scim-users.service.js';

export const SCIM_MEDIA_TYPE = 'application/scim+json';

declare module 'fastify' {
  interface FastifyRequest {
    /** A SCIM request's organization and token (set by the SCIM token check). */
    scim?: TenantCtx & { scimTokenId: string };
    /** What the sync log records of a SCIM request: the resource id and a short outcome. */
    scimOutcome?: { resourceId?: string; outcome: string };
  }
}

/** What the sync log needs: one row per SCIM request, written after the answer. */
export type ScimEventSink = (
  ctx: TenantCtx & { scimTokenId: string },
  event: { method: string; resource: string; resourceId: string | null; status: number; outcome: string },
) => Promise<void>;

const AUTH = {
  kind: 'public',
  reason: 'SCIM 2.0: the organization’s SCIM bearer token, checked by the SCIM routes themselves',
} as const;
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const ListQuery = Type.Object({
  filter: Type.Optional(Type.String({ maxLength: 2000 })),
  startIndex: Type.Optional(Type.Integer()),
  count: Type.Optional(Type.Integer()),
});
const Body = Type.Object({}, { additionalProperties: true });
const Resource = Type.Object({}, { additionalProperties: true, description: 'A SCIM resource' });
const ScimErrorBody = Type.Object(
  {
    schemas: Type.Array(Type.String()),
    status: Type.String(),
    scimType: Type.Optional(Type.String()),
    detail: Type.String(),
  },
  { description: 'A SCIM error (urn:ietf:params:scim:api:messages:2.0:Error)' },
);
const scimErrors = {
  400: ScimErrorBody,
  401: ScimErrorBody,
  403: ScimErrorBody,
  404: ScimErrorBody,
  409: ScimErrorBody,
  412: ScimErrorBody,
  429: ScimErrorBody,
};
const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 500 })) });

/**
 * `/scim/v2/*`: the SCIM 2.0 service provider (RFC 7643/7644) of the organization whose token calls.
 * Not in the OpenAPI document (hidden): the protocol is RFC 7644's, with its own error bodies and media
 * type, described in docs/scim.md. Authenticated by the SCIM token only (not by the platform's guard: their auth declaration is `public`
 * with the reason, and every request passes the token check below before anything else). Requests and
 * answers are `application/scim+json` (plain JSON accepted), errors are SCIM error bodies.
 */
export function registerScimProtocolRoutes(
  app: App,
  deps: {
    users: ScimUsersService;
    groups: ScimGroupsService;
    lookup: ScimTokenLookup;
    admitted: ScimAdmission;
    /** Counts each authenticated request against its token's and organization's budgets (429 over). */
    rateLimit: ScimRateLimiter;
    recordEvent: ScimEventSink;
    baseUrl: string;
    log: Logger;
  },
): void {
  void app.register(async (scoped) => {
    const scim = scoped.withTypeProvider<TypeBoxTypeProvider>();
    scim.addContentTypeParser(
      SCIM_MEDIA_TYPE,
      { parseAs: 'string' },
      scim.getDefaultJsonParser('error', 'error'),
    );
    scim.addHook('onRequest', async (req) => {
      const ctx = await authenticateScim(req, deps.lookup, deps.admitted);
      // Over the limit: 429 before the request is recorded (a flood writes no sync log rows).
      deps.rateLimit(ctx);
      req.scim = ctx;
    });
    scim.addHook('onSend', async (_req, reply, payload) => {
      void reply.header('content-type', `${SCIM_MEDIA_TYPE}; charset=utf-8`);
      return payload;
    });
    scim.addHook('onResponse', async (req, reply) => {
      if (!req.scim) return;
      const resource = /^\/scim\/v2\/([A-Za-z]+)/.exec(req.url)?.[1] ?? 'unknown';
      const params = req.params as { id?: string } | undefined;
      const resourceId = req.scimOutcome?.resourceId ?? params?.id ?? null;
      try {
        await deps.recordEvent(req.scim, {
          method: req.method,
          resource: resource.slice(0, 40),
          resourceId: resourceId ? resourceId.slice(0, 100) : null,
          status: reply.statusCode,
          outcome: (req.scimOutcome?.outcome ?? (reply.statusCode < 400 ? 'ok' : 'error')).slice(0, 200),
        });
      } catch (err) {
        deps.log.warn({ err }, 'SCIM sync log entry not recorded');
      }
    });
    scim.setErrorHandler((err: FastifyError, req, reply) => {
      let e: ScimError;
      if (err instanceof ScimError) e = err;
      else if (err.validation) e = new ScimError(400, err.message, 'invalidSyntax');
      else if (
        err instanceof SyntaxError ||
        (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
      ) {
        e = new ScimError(err.statusCode ?? 400, 'the request could not be processed', 'invalidSyntax');
      } else {
        deps.log.error({ err, method: req.method, url: req.routeOptions.url }, 'unhandled SCIM error');
        e = new ScimError(500, 'internal error');
      }
      req.scimOutcome = { outcome: `${e.scimType ?? 'error'}: ${e.detail}` };
      if (e.retryAfterSeconds !== undefined) void reply.header('retry-after', String(e.retryAfterSeconds));
      void reply.status(e.status).send(e.body());
    });

    const ctxOf = (req: FastifyRequest) => {
      if (!req.scim) throw new ScimError(401, 'a valid SCIM bearer token is required');
      return req.scim;
    };
    const ifMatch = (req: FastifyRequest) => (req.headers as { 'if-match'?: string })['if-match'];
    const send = (
      req: FastifyRequest,
      reply: FastifyReply,
      status: number,
      r: Record<string, unknown>,
      outcome: string,
    ) => {
      const meta = r.meta as { version?: string; location?: string } | undefined;
      if (meta?.version) void reply.header('etag', meta.version);
      if (status === 201 && meta?.location) void reply.header('location', meta.location);
      req.scimOutcome = { resourceId: typeof r.id === 'string' ? r.id : undefined, outcome };
      return reply.status(status).send(r);
    };

    /** The route options every `/scim/v2` route shares (hidden from OpenAPI, the SCIM token check). */
    const opts = <S extends object>(operationId: string, schema: S) => ({
      config: { auth: AUTH },
      schema: { operationId, hide: true, tags: ['scim'], ...schema },
    });
    const one = { params: IdParams, response: { 200: Resource, ...scimErrors } };
    const change = { ...one, headers: IfMatch, body: Body };

    // Users and Groups: the same six handlers over their services.
    for (const [path, svc, kind] of [
      ['Users', deps.users, 'user'],
      ['Groups', deps.groups, 'group'],
    ] as const) {
      const url = `/scim/v2/${path}`;
      scim.get(
        url,
        opts(`scimList${path}`, { querystring: ListQuery, response: { 200: Resource, ...scimErrors } }),
        async (req, reply) => {
          const list = await svc.list(ctxOf(req), req.query);
          req.scimOutcome = { outcome: `listed ${list.itemsPerPage} of ${list.totalResults}` };
          return reply.send(list);
        },
      );
      scim.get(`${url}/:id`, opts(`scimGet${kind}`, one), async (req, reply) =>
        send(req, reply, 200, await svc.get(ctxOf(req), req.params.id), 'read'),
      );
      scim.post(
        url,
        opts(`scimCreate${kind}`, { body: Body, response: { 201: Resource, ...scimErrors } }),
        async (req, reply) => send(req, reply, 201, await svc.create(ctxOf(req), req.body), 'created'),
      );
      scim.put(`${url}/:id`, opts(`scimReplace${kind}`, change), async (req, reply) =>
        send(
          req,
          reply,
          200,
          await svc.replace(ctxOf(req), req.params.id, req.body, ifMatch(req)),
          'replaced',
        ),
      );
      scim.patch(`${url}/:id`, opts(`scimPatch${kind}`, change), async (req, reply) =>
        send(req, reply, 200, await svc.patch(ctxOf(req), req.params.id, req.body, ifMatch(req)), 'patched'),
      );
      scim.delete(
        `${url}/:id`,
        opts(`scimDelete${kind}`, {
          params: IdParams,
          headers: IfMatch,
          response: { 204: Type.Null(), ...scimErrors },
        }),
        async (req, reply) => {
          await svc.remove(ctxOf(req), req.params.id, ifMatch(req));
          req.scimOutcome = { resourceId: req.params.id, outcome: 'deleted' };
          return reply.status(204).send(null);
        },
      );
    }

    // Discovery (RFC 7644 section 4): fixed documents.
    const base = `${deps.baseUrl}/scim/v2`;
    const list = (resources: Record<string, unknown>[]) => ({
      schemas: [LIST_SCHEMA],
      totalResults: resources.length,
      startIndex: 1,
      itemsPerPage: resources.length,
      Resources: resources,
    });
    const serviceProviderConfig = {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
      documentationUri: `${deps.baseUrl}/docs`,
      patch: { supported: true },
      bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
      filter: { supported: true, maxResults: 200 },
      changePassword: { supported: false },
      sort: { supported: false },
      etag: { supported: true },
      authenticationSchemes: [
        {
          type: 'oauthbearertoken',
          name: 'OAuth Bearer Token',
          description: 'The organization’s SCIM token (Directory sync settings)',
          primary: true,
        },
      ],
      meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
    };
    const resourceTypes = list(
      [SCIMMY.Resources.User, SCIMMY.Resources.Group].map((r) => ({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
        ...r.describe(),
        meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/${r.describe().id}` },
      })),
    );
    const schemas = list(
      [SCIMMY.Schemas.User, SCIMMY.Schemas.Group].map((s) => {
        const d = s.definition.describe() as Record<string, unknown>;
        return { ...d, meta: { resourceType: 'Schema', location: `${base}/Schemas/${String(d.id)}` } };
      }),
    );
    for (const [path, operationId, doc] of [
      ['ServiceProviderConfig', 'scimServiceProviderConfig', serviceProviderConfig],
      ['ResourceTypes', 'scimResourceTypes', resourceTypes],
      ['Schemas', 'scimSchemas', schemas],
    ] as const) {
      scim.get(
        `/scim/v2/${path}`,
        opts(operationId, {
          response: { 200: Resource, 401: ScimErrorBody, 403: ScimErrorBody, 429: ScimErrorBody },
        }),
        async () => doc,
      );
    }
  });
}
