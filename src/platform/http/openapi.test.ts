import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Type } from '@fastify/type-provider-typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type LogLines } from '../../../test/support/app.js';
import type { Composition } from '../../app/compose.js';
import { createLogger } from '../logger.js';
import { denyAllAuthenticator, routeAuthTable } from './auth.js';
import { summaryOf } from './openapi.js';
import { createHttpServer } from './server.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../../..');

interface Operation {
  operationId: string;
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: { $ref?: string; name?: string; in?: string }[];
  requestBody?: unknown;
  responses: Record<string, { description: string; content?: Record<string, { schema?: unknown }> }>;
  'x-permission'?: string;
}
interface Doc {
  openapi: string;
  servers?: { url: string }[];
  tags?: { name: string; description?: string }[];
  components: { securitySchemes?: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
}
interface Problem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ path, method, op })),
  );
/** `/v1/projects/:id` → `/v1/projects/{id}` (how the document writes a route's URL). */
const docPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/**
 * Warnings of the recommended ruleset that are not defects: operations that take no input and need no
 * credential cannot answer a 4xx, and the project declares no license yet.
 */
const EXPLAINED_WARNINGS = new Set([
  'info-license #/info',
  'operation-4xx-response #/paths/~1healthz/get/responses',
  'operation-4xx-response #/paths/~1readyz/get/responses',
  'operation-4xx-response #/paths/~1.well-known~1jwks.json/get/responses',
  'operation-4xx-response #/paths/~1v1~1audit-logs~1public-key/get/responses',
  // Social sign-in: the provider list takes no input and cannot fail; start and callback are browser
  // redirects (302 to the provider, 303 back to the console), never a 2xx.
  'operation-4xx-response #/paths/~1v1~1auth~1social~1providers/get/responses',
  'operation-2xx-response #/paths/~1v1~1auth~1social~1{provider}~1start/get/responses',
  'operation-2xx-response #/paths/~1v1~1auth~1social~1{provider}~1callback/get/responses',
  // Browser redirects of single sign-on: they answer 302 (to the IdP, or back to the console), never 2xx.
  'operation-2xx-response #/paths/~1v1~1auth~1sso~1start/get/responses',
  'operation-2xx-response #/paths/~1v1~1auth~1sso~1oidc~1callback/get/responses',
  // The SAML assertion consumer: 303 to the console after a verified response, never 2xx.
  'operation-2xx-response #/paths/~1v1~1auth~1sso~1saml~1{connectionId}~1acs/post/responses',
]);

async function lint(doc: unknown): Promise<Problem[]> {
  const dir = await mkdtemp(join(tmpdir(), 'openapi-lint-'));
  try {
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(doc));
    const bin = join(ROOT, 'node_modules/.bin/redocly');
    const args = [
      'lint',
      file,
      '--config',
      join(ROOT, 'redocly.yaml'),
      '--format=json',
      '--max-problems=10000',
    ];
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
    // redocly exits 1 when it finds errors; its JSON report is on stdout either way.
    const stdout = await run(bin, args, { env, maxBuffer: 64 * 1024 * 1024 }).then(
      (r) => r.stdout,
      (e: { stdout?: string }) => e.stdout ?? '',
    );
    return (JSON.parse(stdout) as { problems: Problem[] }).problems;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('OpenAPI document', () => {
  let c: Composition & { logs: LogLines };
  let doc: Doc;

  beforeAll(async () => {
    c = await buildTestApp({ publicUrl: 'https://app.saasready.test/' });
    doc = (await c.app.inject('/openapi.json')).json<Doc>();
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('passes `redocly lint` (recommended ruleset) with zero errors and only explained warnings', async () => {
    const problems = await lint(doc);
    const show = (p: Problem) => `${p.ruleId} ${p.location[0]?.pointer ?? ''}`;
    const errors = problems.filter((p) => p.severity === 'error').map((p) => `${show(p)}: ${p.message}`);
    expect(errors).toEqual([]);
    const warnings = problems.filter((p) => p.severity !== 'error').map(show);
    expect(warnings.filter((w) => !EXPLAINED_WARNINGS.has(w))).toEqual([]);
  }, 60_000);

  it('derives security, summary and error answers of every operation from its route declaration', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: 'https://app.saasready.test' }]);
    expect(Object.keys(doc.components.securitySchemes ?? {}).sort()).toEqual([
      'accessToken',
      'apiKey',
      'session',
    ]);
    for (const tag of doc.tags ?? []) expect(tag.description, tag.name).toBeTruthy();
    let checked = 0;
    for (const route of routeAuthTable(c.app)) {
      const op = doc.paths[docPath(route.url)]?.[route.method.toLowerCase()];
      if (!op) continue; // hidden (docs, /openapi.json) or HEAD
      checked++;
      const name = `${route.method} ${route.url}`;
      expect(op.summary, name).toBeTruthy();
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      const codes = Object.keys(op.responses);
      expect(codes, name).toContain('503');
      if (op.requestBody) expect(codes, name).toEqual(expect.arrayContaining(['400', '413', '415']));
      switch (route.auth.kind) {
        case 'public':
          expect(op.security, name).toEqual([]);
          break;
        case 'platform':
          expect(op.security, name).toEqual([{ session: [] }]);
          expect(codes, name).toEqual(expect.arrayContaining(['401', '403']));
          break;
        case 'user':
          expect(schemes, name).not.toContain('apiKey');
          expect(codes, name).toEqual(expect.arrayContaining(['401', '403']));
          break;
        case 'tenant':
          expect(op['x-permission'], name).toBe(route.auth.permission);
          expect(schemes, name).toContain('session');
          expect(codes, name).toEqual(expect.arrayContaining(['401', '403', '404']));
          if (schemes.includes('apiKey')) expect(codes, name).toContain('429');
          break;
      }
      for (const [code, response] of Object.entries(op.responses)) {
        if (Number(code) >= 400 && !(route.url === '/readyz' && code === '503')) {
          expect(response.content?.['application/json']?.schema, `${name} ${code}`).toEqual({
            $ref: '#/components/schemas/Error',
          });
          expect(response.description, `${name} ${code}`).not.toBe('Default Response');
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
    // A route whose handler refuses tokens or keys narrows its security in its own declaration.
    expect(doc.paths['/v1/auth/token']?.post?.security).toEqual([{ session: [] }]);
    expect(doc.paths['/v1/projects/{id}']?.patch?.summary).toBe('Update project');
    expect(doc.paths['/v1/members']?.get?.security).toEqual([{ session: [] }, { accessToken: [] }]);
    expect(doc.paths['/v1/projects']?.get?.security).toEqual([
      { session: [] },
      { accessToken: [] },
      { apiKey: [] },
    ]);
  });

  it('declares the media types the audit export really sends', async () => {
    const content = doc.paths['/v1/audit-logs/export']?.get?.responses['200']?.content ?? {};
    expect(Object.keys(content).sort()).toEqual(['application/jsonl', 'text/csv']);
  });

  it('documents every tenant route under /v1/… and /v1/orgs/{org}/…, both served', async () => {
    const tenantRoutes = routeAuthTable(c.app).filter((r) => r.auth.kind === 'tenant' && r.method !== 'HEAD');
    expect(tenantRoutes.length).toBeGreaterThan(20);
    for (const route of tenantRoutes) {
      const method = route.method.toLowerCase();
      const plain = doc.paths[docPath(route.url)]?.[method];
      const inOrg = doc.paths[docPath(route.url).replace(/^\/v1\//, '/v1/orgs/{org}/')]?.[method];
      expect(plain, route.url).toBeDefined();
      expect(inOrg, route.url).toBeDefined();
      expect(inOrg!.operationId).toBe(`${plain!.operationId}InOrg`);
      expect(inOrg!.security).toEqual(plain!.security);
      expect(inOrg!.parameters?.[0]).toEqual({ $ref: '#/components/parameters/Org' });
    }
    // No other operation has the org form; every org-form path is served by a route (401, not 404).
    const orgOps = operations(doc).filter(({ path }) => path.startsWith('/v1/orgs/{org}/'));
    expect(orgOps).toHaveLength(tenantRoutes.length);
    for (const { path, method } of orgOps) {
      const url = path.replace('{org}', 'acme').replace(/\{[^}]+\}/g, 'x');
      const res = await c.app.inject({ method: method.toUpperCase() as 'GET', url });
      expect(res.statusCode, `${method} ${url}`).toBe(401);
    }
  });

  it('picks up a newly declared route without any edit to the generator', async () => {
    const app = await createHttpServer({
      log: createLogger({ level: 'silent' }),
      bodyLimitBytes: 1024,
      trustProxy: false,
      authenticator: denyAllAuthenticator,
      version: 'test',
    });
    app.post(
      '/v1/widgets/:id/polish',
      {
        config: { auth: { kind: 'tenant', permission: 'projects:update' } },
        schema: {
          operationId: 'polishWidget',
          tags: ['projects'],
          params: Type.Object({ id: Type.String() }),
          body: Type.Object({ shine: Type.Integer() }),
          response: { 200: Type.Object({ ok: Type.Boolean() }) },
        },
      },
      async () => ({ ok: true }),
    );
    await app.ready();
    const generated = (await app.inject('/openapi.json')).json<Doc>();
    await app.close();
    const op = generated.paths['/v1/widgets/{id}/polish']?.post;
    expect(op?.summary).toBe('Polish widget');
    expect(summaryOf('listAuditLogs')).toBe('List audit logs');
    expect(op?.security).toEqual([{ session: [] }, { accessToken: [] }, { apiKey: [] }]);
    // 409: a tenant write refused while the organization is pending deletion.
    expect(Object.keys(op?.responses ?? {}).sort()).toEqual(
      ['200', '400', '401', '403', '404', '409', '413', '415', '429', '503'].sort(),
    );
    expect(generated.paths['/v1/orgs/{org}/widgets/{id}/polish']?.post?.operationId).toBe(
      'polishWidgetInOrg',
    );
    expect(generated.servers).toEqual([{ url: '/' }]);
  });
});
