import { Type, type TSchema } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery, TenantRouteErrors } from '../../platform/http/schemas.js';
import { parseIdempotencyKey } from '../../platform/idempotency.js';
import { recordAudit } from '../../platform/audit/record.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { ConnectionsService } from './connections.service.js';
import type { DomainsService } from './domains.service.js';
import * as repo from './sso.repository.js';

const Nullable = <T extends TSchema>(t: T, opts?: { description: string }) =>
  Type.Union([t, Type.Null()], opts);
const Str = (max: number) => Type.String({ minLength: 1, maxLength: max });
const RoleMappings = Type.Array(
  Type.Object({ value: Str(200), role: Str(40) }, { additionalProperties: false }),
  {
    maxItems: 100,
  },
);
const Connection = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    kind: Type.Union([Type.Literal('oidc'), Type.Literal('saml')]),
    name: Type.String(),
    status: Type.Union([Type.Literal('active'), Type.Literal('inactive')]),
    defaultRole: Type.String(),
    roleMappings: Type.Array(Type.Object({ value: Type.String(), role: Type.String() })),
    oidc: Nullable(
      Type.Object({
        issuer: Nullable(Type.String()),
        clientId: Nullable(Type.String()),
        clientSecretSet: Type.Boolean(),
        scopes: Type.Array(Type.String()),
        groupsClaim: Nullable(Type.String()),
        trustEmail: Type.Boolean(),
      }),
    ),
    saml: Nullable(
      Type.Object({
        idpMetadataUrl: Nullable(Type.String()),
        idpEntityId: Nullable(Type.String()),
        idpSsoUrl: Nullable(Type.String()),
        idpCertificateCount: Type.Integer(),
        wantAssertionsSigned: Type.Boolean(),
        wantResponseSigned: Type.Boolean(),
        allowIdpInitiated: Type.Boolean(),
        groupsAttribute: Nullable(Type.String()),
        emailAttribute: Nullable(Type.String()),
        spEntityId: Type.String(),
        acsUrl: Type.String(),
        metadataUrl: Type.String(),
      }),
    ),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'SsoConnection' },
);
const OidcInput = Type.Object(
  {
    issuer: Type.Optional(Str(500)),
    clientId: Type.Optional(Str(500)),
    clientSecret: Type.Optional(Type.String({ maxLength: 2000, description: 'Write-only: never returned.' })),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]{1,100}$' }), { maxItems: 20 }),
    ),
    groupsClaim: Type.Optional(Nullable(Str(100))),
    trustEmail: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
const SamlInput = Type.Object(
  {
    idpMetadataXml: Type.Optional(Type.String({ minLength: 1, maxLength: 500_000 })),
    idpMetadataUrl: Type.Optional(Str(2000)),
    wantAssertionsSigned: Type.Optional(Type.Boolean()),
    wantResponseSigned: Type.Optional(Type.Boolean()),
    allowIdpInitiated: Type.Optional(Type.Boolean()),
    groupsAttribute: Type.Optional(Nullable(Str(200))),
    emailAttribute: Type.Optional(
      Nullable(Str(256), {
        description: 'The attribute holding the email address; null: the NameID (emailAddress format).',
      }),
    ),
  },
  { additionalProperties: false },
);
const Common = {
  name: Str(200),
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('inactive')])),
  defaultRole: Type.Optional(Str(40)),
  roleMappings: Type.Optional(RoleMappings),
};
const Domain = Type.Object(
  {
    domain: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('verified')]),
    txtRecord: Type.Object({ name: Type.String(), value: Type.String() }),
    verifiedAt: Nullable(Type.String({ format: 'date-time' })),
    lastCheckedAt: Nullable(Type.String({ format: 'date-time' })),
    failedChecks: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'SsoDomain' },
);
const TestReport = Type.Object({
  ok: Type.Boolean(),
  kind: Type.String(),
  oidc: Type.Optional(
    Type.Object({
      issuer: Type.String(),
      authorizationEndpoint: Nullable(Type.String()),
      tokenEndpoint: Nullable(Type.String()),
      jwksUri: Nullable(Type.String()),
      scopesSupported: Type.Array(Type.String()),
      idTokenSigningAlgs: Type.Array(Type.String()),
    }),
  ),
  saml: Type.Optional(
    Type.Object({ entityId: Type.String(), ssoUrl: Type.String(), certificateCount: Type.Integer() }),
  ),
  error: Type.Optional(Type.String()),
});
const Settings = Type.Object({ requireSso: Type.Boolean() }, { $id: 'SsoSettings' });
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const DomainParams = Type.Object({ domain: Type.String({ maxLength: 253 }) });
const errors = TenantRouteErrors;
const auth = { auth: { kind: 'tenant', permission: 'sso:manage' } } as const;
const tags = ['sso'];

/** `/v1/sso/…`: the organization's SSO connections, verified domains and the require-SSO setting. */
export function registerSsoRoutes(
  app: App,
  deps: { connections: ConnectionsService; domains: DomainsService; withTenant: WithTenant },
): void {
  const { connections, domains } = deps;

  app.get(
    '/v1/sso/connections',
    {
      config: auth,
      schema: {
        operationId: 'listSsoConnections',
        tags,
        querystring: PageQuery,
        response: { 200: PageOf(Connection), ...errors },
      },
    },
    async (req) => connections.list(tenantCtx(req), req.query),
  );

  app.post(
    '/v1/sso/connections',
    {
      config: auth,
      schema: {
        operationId: 'createSsoConnection',
        tags,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Union([
          Type.Object(
            { kind: Type.Literal('oidc'), ...Common, oidc: OidcInput },
            { additionalProperties: false },
          ),
          Type.Object(
            { kind: Type.Literal('saml'), ...Common, saml: SamlInput },
            { additionalProperties: false },
          ),
        ]),
        response: { 201: Connection, 409: ErrorResponse, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
      const { connection, replayed } = await connections.create(tenantCtx(req), req.body, { idempotencyKey });
      if (replayed) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).send(connection);
    },
  );

  app.get(
    '/v1/sso/connections/:id',
    {
      config: auth,
      schema: {
        operationId: 'getSsoConnection',
        tags,
        params: IdParams,
        response: { 200: Connection, ...errors },
      },
    },
    async (req) => connections.get(tenantCtx(req), req.params.id),
  );

  app.patch(
    '/v1/sso/connections/:id',
    {
      config: auth,
      schema: {
        operationId: 'updateSsoConnection',
        tags,
        params: IdParams,
        body: Type.Object(
          {
            name: Type.Optional(Str(200)),
            status: Common.status,
            defaultRole: Common.defaultRole,
            roleMappings: Common.roleMappings,
            oidc: Type.Optional(OidcInput),
            saml: Type.Optional(SamlInput),
          },
          { additionalProperties: false },
        ),
        response: { 200: Connection, 422: ErrorResponse, ...errors },
      },
    },
    async (req) => connections.update(tenantCtx(req), req.params.id, req.body),
  );

  app.delete(
    '/v1/sso/connections/:id',
    {
      config: auth,
      schema: {
        operationId: 'deleteSsoConnection',
        tags,
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await connections.remove(tenantCtx(req), req.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/sso/connections/:id/test',
    {
      config: auth,
      schema: {
        operationId: 'testSsoConnection',
        summary: 'Runs OIDC discovery, or reads the SAML metadata, and reports what it found.',
        tags,
        params: IdParams,
        response: { 200: TestReport, ...errors },
      },
    },
    async (req) => connections.test(tenantCtx(req), req.params.id),
  );

  app.get(
    '/v1/sso/domains',
    {
      config: auth,
      schema: {
        operationId: 'listSsoDomains',
        tags,
        querystring: PageQuery,
        response: { 200: PageOf(Domain), ...errors },
      },
    },
    async (req) => domains.list(tenantCtx(req), req.query),
  );

  app.post(
    '/v1/sso/domains',
    {
      config: auth,
      schema: {
        operationId: 'addSsoDomain',
        summary:
          'Adds a domain; publish its TXT record, then verify it. Adding it again answers the same domain.',
        tags,
        body: Type.Object({ domain: Str(253) }, { additionalProperties: false }),
        response: { 200: Domain, 201: Domain, 422: ErrorResponse, ...errors },
      },
    },
    async (req, reply) => {
      const { domain, created } = await domains.add(tenantCtx(req), req.body.domain);
      return reply.status(created ? 201 : 200).send(domain);
    },
  );

  app.post(
    '/v1/sso/domains/:domain/verify',
    {
      config: auth,
      schema: {
        operationId: 'verifySsoDomain',
        tags,
        params: DomainParams,
        response: { 200: Domain, 409: ErrorResponse, 422: ErrorResponse, ...errors },
      },
    },
    async (req) => domains.verify(tenantCtx(req), req.params.domain),
  );

  app.delete(
    '/v1/sso/domains/:domain',
    {
      config: auth,
      schema: {
        operationId: 'deleteSsoDomain',
        tags,
        params: DomainParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await domains.remove(tenantCtx(req), req.params.domain);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/sso/settings',
    { config: auth, schema: { operationId: 'getSsoSettings', tags, response: { 200: Settings, ...errors } } },
    async (req) => {
      const ctx = tenantCtx(req);
      return {
        requireSso: await deps.withTenant(ctx.tenantId, (db) => repo.requireSso(db, ctx.tenantId), {
          mode: 'read',
        }),
      };
    },
  );

  app.put(
    '/v1/sso/settings',
    {
      config: auth,
      schema: {
        operationId: 'updateSsoSettings',
        summary: 'require-SSO: members (not owners) of the organization sign in through its IdP.',
        tags,
        body: Settings,
        response: { 200: Settings, ...errors },
      },
    },
    async (req) => {
      const ctx = tenantCtx(req);
      await deps.withTenant(ctx.tenantId, async (db) => {
        const before = await repo.requireSso(db, ctx.tenantId);
        if (before === req.body.requireSso) return;
        await repo.setRequireSso(db, ctx.tenantId, req.body.requireSso);
        await recordAudit(db, ctx, {
          action: 'sso_settings.updated',
          target: { type: 'organization', id: ctx.tenantId },
          changes: { before: { require_sso: before }, after: { require_sso: req.body.requireSso } },
        });
      });
      return { requireSso: req.body.requireSso };
    },
  );
}
