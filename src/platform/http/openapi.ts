import { STATUS_CODES } from 'node:http';
import swagger, { type SwaggerTransformObject } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifySchema, RouteOptions } from 'fastify';
import type { App } from './app-type.js';
import type { RouteAuth } from './auth.js';
import { ErrorResponse } from './schemas.js';

/** The credentials the API accepts, by OpenAPI security scheme name. */
export const SECURITY_SCHEMES = {
  session: {
    type: 'apiKey',
    in: 'cookie',
    name: 'sr_session',
    description:
      'The browser session cookie set by login or sign-up. Unsafe methods are accepted only from an ' +
      'allowed Origin (CSRF check).',
  },
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description:
      '`Authorization: Bearer <access token>` from `POST /v1/auth/token`: acts as its user, in the one ' +
      'organization it was issued for.',
  },
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'srk_…',
    description:
      '`Authorization: Bearer srk_…`: an organization API key; acts only in its organization, within ' +
      'its scopes, rate-limited per key (429 with `Retry-After`).',
  },
} as const;

export type SecuritySchemeName = keyof typeof SECURITY_SCHEMES;
/** An operation's `security`: any one entry (a set of schemes) suffices. */
export type Security = readonly Readonly<Partial<Record<SecuritySchemeName, readonly string[]>>>[];

/**
 * For a route's `schema.security` when its handler accepts a browser session only (it refuses access
 * tokens and API keys); otherwise the security is derived from `config.auth`.
 */
export const SESSION_ONLY: Security = [{ session: [] }];
/** For a tenant route's `schema.security` when its handler needs a user (it refuses API keys). */
export const USERS_ONLY: Security = [{ session: [] }, { accessToken: [] }];

/** What each `config.auth` kind accepts (see src/app/authenticator.ts). */
function securityOf(auth: RouteAuth): Security {
  switch (auth.kind) {
    case 'public':
      return [];
    case 'user':
      // An API key has no user: `userIdOf` refuses it on every user route.
      return USERS_ONLY;
    case 'platform':
      // The production authenticator never grants platform administration to a token or key.
      return SESSION_ONLY;
    case 'tenant':
      return [{ session: [] }, { accessToken: [] }, { apiKey: [] }];
  }
}

/** One description per documented tag (a tag without one fails the lint test). */
const TAGS: Readonly<Record<string, string>> = {
  health: 'Liveness and readiness probes.',
  auth: 'Sign-up, login, sessions, email verification, passwords and API tokens.',
  'two-factor': 'TOTP second factor: enrolment, verification, recovery codes, organization policy.',
  session: 'The browser session’s current organization.',
  organizations: 'Organizations the user belongs to, and the current one.',
  members: 'Members of the current organization and their roles.',
  roles: 'Custom roles of the current organization.',
  invitations: 'Invitations to join the current organization.',
  'api-keys': 'API keys of the current organization.',
  projects: 'The example tenant-scoped resource.',
  flags: 'Feature flags as evaluated for the current organization, and its overrides.',
  audit: 'The organization’s tamper-evident audit log: list, export, verify, signed checkpoints.',
  billing:
    'The organization’s plan, seats, entitlements and invoices (list, one, PDF); the platform’s plan catalog.',
  platform: 'Platform administration (platform administrators only, browser session).',
  usage: 'Usage metering: event ingestion, summaries, and (platform) the meter catalog.',
  webhooks: 'Signed webhooks of the organization’s domain events: endpoints, delivery log, redelivery.',
  encryption:
    'Per-organization envelope encryption: the organization’s data key versions and rotation, the KEK rotation.',
  gdpr: 'Exports of an organization’s data and of a user’s own data, and their signed download links.',
  sso: 'Single sign-on of the organization: OIDC and SAML connections, verified domains, require-SSO.',
};

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  '200': 'OK',
  '201': 'Created',
  '202': 'Accepted',
  '204': 'Done (no content)',
  '400': 'Invalid request (`VALIDATION_FAILED` names the field)',
  '401': 'Not authenticated, or the credential is invalid, expired or revoked',
  '403': 'Authenticated but not allowed',
  '404': 'Not found (another organization’s resource answers the same)',
  '409': 'Conflict with the current state',
  '413': 'Request body too large (`PAYLOAD_TOO_LARGE`)',
  '415': 'Unsupported `Content-Type` (send `application/json`)',
  '422': 'Unprocessable request',
  '429':
    'Too many requests (an API key’s rate limit, or `QUOTA_EXCEEDED`: a hard quota of the plan): retry after `Retry-After` seconds',
  '503': 'Temporarily unavailable (database outage or shutting down); retry later',
};

/** The one error schema, as a shared schema every error response references. */
const ERROR_SCHEMA_ID = 'Error';
const ERROR_JSON = JSON.stringify(ErrorResponse);

/** The statuses a route really answers besides its own declarations, from its auth and inputs. */
function derivedErrorStatuses(
  auth: RouteAuth,
  schema: FastifySchema,
  security: Security,
  quotaExempt: boolean,
  method: string,
): string[] {
  const codes: string[] = [];
  if (schema.body || schema.querystring || schema.params || schema.headers) codes.push('400');
  if (schema.body) codes.push('413', '415');
  if (auth.kind !== 'public') codes.push('401', '403');
  if (auth.kind === 'tenant') codes.push('404');
  // A write into an organization pending deletion (ORGANIZATION_PENDING_DELETION, docs/organization-lifecycle.md).
  if (auth.kind === 'tenant' && !['GET', 'HEAD', 'OPTIONS'].includes(method)) codes.push('409');
  // An API key's rate limit; a tenant route the hard api_requests quota may refuse (src/modules/quotas).
  if (security.some((s) => s.apiKey) || (auth.kind === 'tenant' && !quotaExempt)) codes.push('429');
  codes.push('503');
  return codes;
}

/** `listAuditLogs` → `List audit logs`. */
export function summaryOf(operationId: string): string {
  const words = operationId
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** `GET /v1/projects/:id` → `getV1ProjectsId` (only for a route that declares no operationId). */
function operationIdOf(method: string, url: string): string {
  const parts = url.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + parts.map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
}

type Schema = FastifySchema & {
  hide?: boolean;
  operationId?: string;
  summary?: string;
  description?: string;
  security?: Security;
  response?: Record<string, unknown>;
};

/** Per route: security, summary, permission and the error answers, all from the route's declarations. */
function transform({ schema, url, route }: { schema: FastifySchema; url: string; route: RouteOptions }): {
  schema: FastifySchema;
  url: string;
} {
  const declared = (schema ?? {}) as Schema;
  const auth = route.config?.auth;
  if (declared.hide || !auth) return { schema: declared, url };
  const method = [route.method].flat()[0] ?? 'GET';
  const operationId = declared.operationId ?? operationIdOf(String(method), url);
  const security = declared.security ?? securityOf(auth);
  for (const entry of security) {
    for (const name of Object.keys(entry)) {
      if (!(name in SECURITY_SCHEMES)) throw new Error(`${operationId}: unknown security scheme ${name}`);
    }
  }
  const response: Record<string, unknown> = {};
  for (const [code, value] of Object.entries(declared.response ?? {})) {
    response[code] = JSON.stringify(value) === ERROR_JSON ? { $ref: `${ERROR_SCHEMA_ID}#` } : value;
  }
  for (const code of derivedErrorStatuses(
    auth,
    declared,
    security,
    route.config?.quotaExempt === true,
    String(method),
  )) {
    response[code] ??= { $ref: `${ERROR_SCHEMA_ID}#` };
  }
  const permission =
    auth.kind === 'tenant'
      ? {
          'x-permission': auth.permission,
          description: withPermission(declared.description, auth.permission),
        }
      : {};
  return {
    schema: {
      ...declared,
      operationId,
      summary: declared.summary ?? summaryOf(operationId),
      security,
      response,
      ...permission,
    },
    url,
  };
}

function withPermission(description: string | undefined, permission: string): string {
  const needs = `Needs the \`${permission}\` permission in the organization.`;
  return description ? `${description}\n\n${needs}` : needs;
}

type Json = Record<string, unknown>;
type Operation = Json & {
  operationId?: string;
  summary?: string;
  security?: Security;
  parameters?: unknown[];
  responses?: Record<string, Json>;
  tags?: string[];
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

function operationsOf(doc: { paths?: Record<string, Json | undefined> }): [string, string, Operation][] {
  const out: [string, string, Operation][] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (op && typeof op === 'object') out.push([path, method, op as Operation]);
    }
  }
  return out;
}

/** The path parameter of the `/v1/orgs/{org}/…` form (see src/modules/tenant-resolution/org-path.ts). */
const ORG_PARAMETER = {
  name: 'org',
  in: 'path',
  required: true,
  description: 'The organization’s slug. The credential must hold an ACTIVE membership in it (else 404).',
  schema: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$', maxLength: 63 },
};

/**
 * Every tenant operation (`x-permission`) `/v1/<rest>` again as `/v1/orgs/{org}/<rest>` with the
 * operationId `<op>InOrg`: the same route, the organization named in the path instead of taken from the
 * credential, the `X-Organization` header or the subdomain.
 */
function addOrgPathOperations(paths: Record<string, Json | undefined>): void {
  for (const [path, method, op] of operationsOf({ paths })) {
    if (op['x-permission'] === undefined || !path.startsWith('/v1/')) continue;
    const orgPath = `/v1/orgs/{org}/${path.slice('/v1/'.length)}`;
    const item = (paths[orgPath] ??= {});
    item[method] = {
      ...op,
      operationId: `${op.operationId ?? ''}InOrg`,
      summary: `${op.summary ?? ''} (organization in the path)`,
      parameters: [{ $ref: '#/components/parameters/Org' }, ...(op.parameters ?? [])],
    };
  }
}

function describeResponses(op: Operation): void {
  for (const [code, response] of Object.entries(op.responses ?? {})) {
    const description = DESCRIPTIONS[code] ?? STATUS_CODES[code];
    if (description && response.description === 'Default Response') response.description = description;
    if (code === '429') {
      response.headers = {
        'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 0 } },
        ...(response.headers ?? {}),
      };
    }
  }
}

/** The whole document: servers, tags, used security schemes only, the `/v1/orgs/{org}` form. */
function transformObject(publicUrl: string | undefined): SwaggerTransformObject {
  return (documentObject) => {
    const doc = ('openapiObject' in documentObject ? documentObject.openapiObject : {}) as Json & {
      paths?: Record<string, Json | undefined>;
      components?: Json & { securitySchemes?: Json; parameters?: Json };
    };
    const ops = operationsOf(doc);
    const used = new Set<string>();
    const tags = new Set<string>();
    for (const [, , op] of ops) {
      for (const entry of op.security ?? []) for (const name of Object.keys(entry)) used.add(name);
      for (const tag of op.tags ?? []) tags.add(tag);
      describeResponses(op);
    }
    const paths = { ...(doc.paths ?? {}) };
    addOrgPathOperations(paths);
    const securitySchemes = Object.fromEntries(
      Object.entries(SECURITY_SCHEMES).filter(([name]) => used.has(name)),
    );
    return {
      ...doc,
      servers: [{ url: publicUrl ? publicUrl.replace(/\/+$/, '') : '/' }],
      tags: [...tags].sort().map((name) => (TAGS[name] ? { name, description: TAGS[name] } : { name })),
      components: {
        ...(doc.components ?? {}),
        securitySchemes,
        parameters: { ...(doc.components?.parameters ?? {}), Org: ORG_PARAMETER },
      },
      paths,
    } as ReturnType<SwaggerTransformObject>;
  };
}

export interface OpenApiOptions {
  readonly version: string;
  /** The public URL the API is served at (the document's `servers`). */
  readonly publicUrl?: string;
}

/**
 * The OpenAPI 3.1 document at `/openapi.json` and its UI at `/docs`, generated from the route
 * declarations: each operation's security from `config.auth` (or the route's narrower `schema.security`),
 * the error answers its auth and inputs make possible, a summary from its operationId, and every tenant
 * operation also under `/v1/orgs/{org}/…`. Register before the routes (it collects them as they are added).
 */
export async function registerOpenApi(app: App, opts: OpenApiOptions): Promise<void> {
  app.addSchema({ ...ErrorResponse, $id: ERROR_SCHEMA_ID });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'SaaSReady API',
        version: opts.version,
        description:
          'Multi-tenant B2B SaaS foundation. Every error is `{ "error": { "code", "message", "details?" } }`.',
      },
      // All of them while operations are generated (@fastify/swagger looks them up); unused ones are dropped.
      components: { securitySchemes: structuredClone(SECURITY_SCHEMES) as never },
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    transform,
    transformObject: transformObject(opts.publicUrl),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get(
    '/openapi.json',
    { schema: { hide: true }, config: { auth: { kind: 'public', reason: 'API description' } } },
    async () => app.swagger(),
  );
}
