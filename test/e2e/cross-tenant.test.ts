import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { sql } from 'kysely';
import { routeAuthTable } from '../../src/platform/http/auth.js';
import { closeJanuary } from '../../src/modules/billing/invoice-fixture.test-support.js';
import {
  BASE_DOMAIN,
  createOrg,
  createProject,
  inOrg,
  invite,
  ORG_NOT_FOUND,
  api,
  answerWithLogs,
  rememberSecret,
  signUp,
  signUpPlatformAdmin,
  createOverridableFlag,
  startApp,
  stopApp,
  tenantDatabasesOption,
  uniqueEmail,
  type E2eApp,
  type Method,
  type User,
} from './helpers.js';
import { kindDatabase, type KindDatabase } from '../support/placement-kinds.js';
import { connect } from '../support/tenancy.js';
import { placedTables } from '../../src/platform/tenancy/placed-tables.js';
import { placeInDatabase } from '../support/placements.js';
import type { ProvisionedDatabase } from '../support/provision.js';

interface Call {
  url: string;
  body?: unknown;
}

type Kind = 'pooled' | 'schema' | 'database';

/** The key of the tenant database the `database` variants place organizations in. */
const TENANT_DB = 'xt';

interface Where {
  c: E2eApp;
  /** The app's (control) database, and how it places an organization of its. */
  where: KindDatabase;
  /** The tenant database of the `database` variants (the shared `tenant` database). */
  tenant?: ProvisionedDatabase;
}

/** One app per database, shared by the variants on it: the suite's (both pooled), the placements
 *  database (shared-databases.ts) once either organization is schema-placed, and another app on the
 *  placements database with the shared `tenant` database configured as a tenant database once either is
 *  database-placed. Not the suite's: a database-placed organization's invoice takes its number from its
 *  control database's counter and is stored in the tenant database, and billing's tests check that every
 *  number of the suite's counter is an invoice of the suite's database. */
const apps = new Map<Kind, Promise<Where>>();
function appOn(kind: Kind) {
  let app = apps.get(kind);
  if (!app) {
    app =
      kind === 'database'
        ? Promise.all([kindDatabase('schema'), kindDatabase('database')]).then(async ([where, tenant]) => ({
            where,
            tenant: tenant.db,
            c: await startApp({
              database: where.db,
              tenantDatabases: tenantDatabasesOption(
                { [TENANT_DB]: { url: tenant.db.url, workerUrl: tenant.db.workerUrl } },
                { maxConnections: 8, poolSize: 8 },
              ),
            }),
          }))
        : kindDatabase(kind).then(async (where) => ({
            where,
            c: await startApp(kind === 'pooled' ? {} : { database: where.db }),
          }));
    apps.set(kind, app);
  }
  return app;
}
afterAll(async () => {
  for (const app of apps.values()) await stopApp((await app).c);
});

/**
 * The owner of organization A (every permission there) aims every tenant route at organization B, where
 * they are not a member: by B's headers, path and subdomain (404, as for a missing organization), and by
 * B's resource ids while acting in A (404, as for a missing resource). Nothing of B changes. For each
 * placement of the victim, and of the attacker: B in its own schema (its placed tables there, created
 * by B's owner through the routes), and A in its own schema against a pooled B; then B, and A, in a
 * tenant database (`database` placement, placed by hand: its placed rows there, its directory rows in
 * the control database), every route answering as for a pooled organization.
 */
/** A SAML IdP's metadata (the certificate is never used: nothing signs in through it here). */
const PLANTED_METADATA = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
  xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/planted">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>MIIBplanted</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;

describe.each([
  { a: 'pooled', b: 'pooled' },
  { a: 'pooled', b: 'schema' },
  { a: 'schema', b: 'pooled' },
  { a: 'pooled', b: 'database' },
  { a: 'database', b: 'pooled' },
] as const)('e2e: cross-tenant access, A $a, B $b', (kinds) => {
  let c: E2eApp;
  let where: KindDatabase;
  let tenantDb: ProvisionedDatabase | undefined;
  /** A's and B's ids, those of them the variant places in a schema. */
  const schemaPlaced = () => [
    ...(kinds.a === 'schema' ? [a.id] : []),
    ...(kinds.b === 'schema' ? [b.id] : []),
  ];
  /** Those placed in the tenant database. */
  const databasePlaced = () => [
    ...(kinds.a === 'database' ? [a.id] : []),
    ...(kinds.b === 'database' ? [b.id] : []),
  ];
  let attacker: User;
  let ownerB: User;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let projectB: string;
  let invitationB: string;
  let apiKeyB: string;
  let invoiceB: string;
  let webhookEndpointB: string;
  let webhookDeliveryB: string;
  let exportB: string;
  let scimTokenB: string;
  let scimGroupB: string;
  let ssoConnectionB: string;
  const ssoDomainB = `b-${randomUUID().slice(0, 8)}.test`;
  /** A flag (global) that B has overridden. */
  let flagB: string;
  /** A count meter clients may post to (the built-in `api_requests` is reserved for the platform). */
  let meterX: string;
  let snapshotB: string;
  const roleB = 'b_auditor';
  const missing = randomUUID();

  /** The call of each tenant route, aimed at B's resources (used with every way of naming B). */
  const callsWith = (ids: {
    project: string;
    user: string;
    role: string;
    invitation: string;
    apiKey: string;
    flag: string;
    invoice: string;
    webhookEndpoint: string;
    webhookDelivery: string;
    export: string;
    scimToken: string;
    scimGroup: string;
    ssoConnection: string;
    ssoDomain: string;
  }) =>
    ({
      'POST /v1/projects': { url: '/v1/projects', body: { name: 'planted' } },
      'GET /v1/projects': { url: '/v1/projects' },
      'GET /v1/projects/:id': { url: `/v1/projects/${ids.project}` },
      'PATCH /v1/projects/:id': { url: `/v1/projects/${ids.project}`, body: { name: 'hijacked' } },
      'DELETE /v1/projects/:id': { url: `/v1/projects/${ids.project}` },
      'GET /v1/organization': { url: '/v1/organization' },
      'PATCH /v1/organization': { url: '/v1/organization', body: { name: 'hijacked' } },
      'DELETE /v1/organization': { url: '/v1/organization' },
      'POST /v1/organization/cancel-deletion': { url: '/v1/organization/cancel-deletion', body: {} },
      'PUT /v1/organization/two-factor-policy': {
        url: '/v1/organization/two-factor-policy',
        body: { required: false },
      },
      'GET /v1/members': { url: '/v1/members' },
      'PATCH /v1/members/:userId': { url: `/v1/members/${ids.user}`, body: { role: 'viewer' } },
      'DELETE /v1/members/:userId': { url: `/v1/members/${ids.user}` },
      'POST /v1/members/leave': { url: '/v1/members/leave' },
      'POST /v1/members/transfer-ownership': {
        url: '/v1/members/transfer-ownership',
        body: { userId: ids.user },
      },
      'GET /v1/roles': { url: '/v1/roles' },
      'POST /v1/roles': { url: '/v1/roles', body: { key: 'planted', name: 'P', permissions: [] } },
      'PATCH /v1/roles/:key': { url: `/v1/roles/${ids.role}`, body: { name: 'hijacked' } },
      'DELETE /v1/roles/:key': { url: `/v1/roles/${ids.role}` },
      'POST /v1/invitations': {
        url: '/v1/invitations',
        body: { email: uniqueEmail('planted'), role: 'owner' },
      },
      'GET /v1/invitations': { url: '/v1/invitations' },
      'DELETE /v1/invitations/:id': { url: `/v1/invitations/${ids.invitation}` },
      'POST /v1/invitations/:id/resend': { url: `/v1/invitations/${ids.invitation}/resend`, body: {} },
      'POST /v1/api-keys': { url: '/v1/api-keys', body: { name: 'planted', scopes: ['projects:read'] } },
      'GET /v1/api-keys': { url: '/v1/api-keys' },
      'GET /v1/api-keys/:id': { url: `/v1/api-keys/${ids.apiKey}` },
      'DELETE /v1/api-keys/:id': { url: `/v1/api-keys/${ids.apiKey}` },
      'GET /v1/flags': { url: '/v1/flags' },
      'GET /v1/flags/overrides': { url: '/v1/flags/overrides' },
      'GET /v1/flags/overridable': { url: '/v1/flags/overridable' },
      'PUT /v1/flags/:key/override': { url: `/v1/flags/${ids.flag}/override`, body: { value: true } },
      'DELETE /v1/flags/:key/override': { url: `/v1/flags/${ids.flag}/override` },
      'GET /v1/audit-logs': { url: '/v1/audit-logs' },
      'GET /v1/audit-logs/export': { url: '/v1/audit-logs/export' },
      'GET /v1/audit-logs/verify': { url: '/v1/audit-logs/verify' },
      'GET /v1/audit-logs/checkpoints': { url: '/v1/audit-logs/checkpoints' },
      'POST /v1/audit-logs/checkpoints': { url: '/v1/audit-logs/checkpoints', body: {} },
      'GET /v1/billing/invoices': { url: '/v1/billing/invoices' },
      'GET /v1/billing/invoices/:id': { url: `/v1/billing/invoices/${ids.invoice}` },
      'GET /v1/billing/invoices/:id/pdf': { url: `/v1/billing/invoices/${ids.invoice}/pdf` },
      'GET /v1/billing/preview': { url: '/v1/billing/preview' },
      'GET /v1/billing/provider': { url: '/v1/billing/provider' },
      'POST /v1/billing/checkout-session': { url: '/v1/billing/checkout-session', body: { plan: 'pro' } },
      'POST /v1/billing/portal-session': { url: '/v1/billing/portal-session', body: {} },
      'POST /v1/usage/events': {
        url: '/v1/usage/events',
        body: { events: [{ id: 'planted', meter: meterX, timestamp: new Date().toISOString() }] },
      },
      'GET /v1/usage/summary': { url: `/v1/usage/summary?${summaryQuery()}` },
      'GET /v1/billing/plan': { url: '/v1/billing/plan' },
      'PUT /v1/billing/plan': { url: '/v1/billing/plan', body: { plan: 'pro' } },
      'GET /v1/organization/keys': { url: '/v1/organization/keys' },
      'POST /v1/organization/keys/rotate': { url: '/v1/organization/keys/rotate' },
      'GET /v1/webhooks/event-types': { url: '/v1/webhooks/event-types' },
      'POST /v1/webhooks/endpoints': {
        url: '/v1/webhooks/endpoints',
        body: { url: 'https://hooks.example.test/planted', eventTypes: ['organization.deleted'] },
      },
      'GET /v1/webhooks/endpoints': { url: '/v1/webhooks/endpoints' },
      'GET /v1/webhooks/endpoints/:id': { url: `/v1/webhooks/endpoints/${ids.webhookEndpoint}` },
      'PATCH /v1/webhooks/endpoints/:id': {
        url: `/v1/webhooks/endpoints/${ids.webhookEndpoint}`,
        body: { description: 'hijacked', enabled: false },
      },
      'DELETE /v1/webhooks/endpoints/:id': { url: `/v1/webhooks/endpoints/${ids.webhookEndpoint}` },
      'POST /v1/webhooks/endpoints/:id/rotate-secret': {
        url: `/v1/webhooks/endpoints/${ids.webhookEndpoint}/rotate-secret`,
        body: {},
      },
      'GET /v1/webhooks/endpoints/:id/deliveries': {
        url: `/v1/webhooks/endpoints/${ids.webhookEndpoint}/deliveries`,
      },
      'POST /v1/webhooks/deliveries/:id/redeliver': {
        url: `/v1/webhooks/deliveries/${ids.webhookDelivery}/redeliver`,
        body: {},
      },
      'POST /v1/organization/export': { url: '/v1/organization/export' },
      'GET /v1/organization/exports': { url: '/v1/organization/exports' },
      'GET /v1/organization/exports/:id': { url: `/v1/organization/exports/${ids.export}` },
      'POST /v1/scim/tokens': { url: '/v1/scim/tokens', body: {} },
      'GET /v1/scim/tokens': { url: '/v1/scim/tokens' },
      'POST /v1/scim/tokens/:id/rotate': { url: `/v1/scim/tokens/${ids.scimToken}/rotate`, body: {} },
      'DELETE /v1/scim/tokens/:id': { url: `/v1/scim/tokens/${ids.scimToken}` },
      'GET /v1/scim/events': { url: '/v1/scim/events' },
      'PUT /v1/scim/groups/:id/role': {
        url: `/v1/scim/groups/${ids.scimGroup}/role`,
        body: { role: 'admin' },
      },
      'GET /v1/sso/connections': { url: '/v1/sso/connections' },
      'POST /v1/sso/connections': {
        url: '/v1/sso/connections',
        body: { kind: 'saml', name: 'planted', saml: { idpMetadataXml: PLANTED_METADATA } },
      },
      'GET /v1/sso/connections/:id': { url: `/v1/sso/connections/${ids.ssoConnection}` },
      'PATCH /v1/sso/connections/:id': {
        url: `/v1/sso/connections/${ids.ssoConnection}`,
        body: { name: 'hijacked' },
      },
      'DELETE /v1/sso/connections/:id': { url: `/v1/sso/connections/${ids.ssoConnection}` },
      'POST /v1/sso/connections/:id/test': { url: `/v1/sso/connections/${ids.ssoConnection}/test`, body: {} },
      'GET /v1/sso/domains': { url: '/v1/sso/domains' },
      'POST /v1/sso/domains': { url: '/v1/sso/domains', body: { domain: 'planted-a.test' } },
      'POST /v1/sso/domains/:domain/verify': { url: `/v1/sso/domains/${ids.ssoDomain}/verify`, body: {} },
      'DELETE /v1/sso/domains/:domain': { url: `/v1/sso/domains/${ids.ssoDomain}` },
      'GET /v1/sso/settings': { url: '/v1/sso/settings' },
      'PUT /v1/sso/settings': { url: '/v1/sso/settings', body: { requireSso: false } },
    }) satisfies Record<string, Call>;

  const summaryQuery = () =>
    new URLSearchParams({
      meter: 'api_requests',
      from: new Date(Date.now() - 86_400_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
      granularity: 'hour',
    }).toString();
  /** B's stored usage events (read in B's own scope). */
  // Without B's own built-in API-request events (ids `internal:…`): the counter of B's earlier requests may
  // flush during a test, which is B's usage, not something an attacker wrote (seen once in a full run).
  const usageEventsOfB = () =>
    c.tenancy.withTenant(b.id, async (db) =>
      (
        await sql<{
          id: string;
        }>`select id from usage_events where organization_id = ${b.id}::uuid and id not like 'internal:%'`.execute(
          db,
        )
      ).rows.map((r) => r.id),
    );

  const idsOfB = () => ({
    project: projectB,
    user: ownerB.userId,
    role: roleB,
    invitation: invitationB,
    apiKey: apiKeyB,
    flag: flagB,
    invoice: invoiceB,
    webhookEndpoint: webhookEndpointB,
    webhookDelivery: webhookDeliveryB,
    export: exportB,
    scimToken: scimTokenB,
    scimGroup: scimGroupB,
    ssoConnection: ssoConnectionB,
    ssoDomain: ssoDomainB,
  });
  const tenantRoutes = () =>
    routeAuthTable(c.app)
      .filter((r) => r.auth.kind === 'tenant')
      .map((r) => ({
        method: r.method as Method,
        key: `${r.method === 'HEAD' ? 'GET' : r.method} ${r.url}`,
      }));

  /** Everything B's owner can see of B. */
  const stateOfB = async () => {
    const get = async (url: string) => (await ownerB.browser.get(url, inOrg(b.id))).body;
    return JSON.stringify(
      await Promise.all(
        ['/v1/organization', '/v1/projects', `/v1/projects/${projectB}`, '/v1/members', '/v1/roles'].map(get),
      ).then(async (xs) => [
        ...xs,
        await get('/v1/invitations'),
        await get('/v1/api-keys'),
        await get('/v1/flags/overrides'),
        await get('/v1/billing/invoices'),
        // B's plan and seats; not `available`, the platform's public plan catalog, which other test
        // files add plans to meanwhile (the suite's database is shared).
        await ownerB.browser.get('/v1/billing/plan', inOrg(b.id)).then((r) => {
          const { available: _catalog, ...own } = r.json<Record<string, unknown>>();
          return JSON.stringify(own);
        }),
        await get('/v1/organization/keys'),
        await get('/v1/webhooks/endpoints'),
        await get(`/v1/webhooks/endpoints/${webhookEndpointB}/deliveries`),
        await get('/v1/scim/tokens'),
        await get('/v1/sso/connections'),
        await get('/v1/sso/domains'),
        await get('/v1/sso/settings'),
      ]),
    );
  };

  beforeAll(async () => {
    const kind = [kinds.a, kinds.b].find((k) => k !== 'pooled') ?? 'pooled';
    ({ c, where, tenant: tenantDb } = await appOn(kind));
    attacker = await signUp(c, 'attacker');
    ownerB = await signUp(c, 'owner-b');
    a = await createOrg(attacker.browser, 'xa');
    b = await createOrg(ownerB.browser, 'xb');
    // Placed before anything else of theirs is written: every row below goes through the placement.
    await where.place(c.tenancy, ...schemaPlaced());
    for (const id of databasePlaced()) {
      await placeInDatabase(where.db.adminUrl, tenantDb!.adminUrl, TENANT_DB, id);
      c.tenancy.router.invalidate(id);
    }
    // No copies of users or flags in the tenant database: its placed tables keep no foreign key to the
    // control database's tables (dropControlForeignKeys, as `npx saasready migrate` leaves it).
    await createProject(attacker.browser, a.id, 'A project');
    projectB = await createProject(ownerB.browser, b.id, 'B project');
    const role = await ownerB.browser.post(
      '/v1/roles',
      { key: roleB, name: 'Auditor', permissions: ['org:read'] },
      inOrg(b.id),
    );
    expect(role.statusCode, role.body).toBe(201);
    invitationB = (await invite(ownerB.browser, b.id, uniqueEmail('b-guest'), 'member')).id;
    const keyB = await ownerB.browser.post(
      '/v1/api-keys',
      { name: 'B key', scopes: ['projects:read'] },
      inOrg(b.id),
    );
    expect(keyB.statusCode, keyB.body).toBe(201);
    apiKeyB = keyB.json<{ id: string; secret: string }>().id;
    rememberSecret(keyB.json<{ secret: string }>().secret);
    flagB = `xt-${randomUUID().slice(0, 8)}.beta`;
    const platformAdmin = await signUpPlatformAdmin(c, undefined, where.db.migrationUrl);
    await createOverridableFlag(platformAdmin.browser, flagB);
    meterX = `xt.${randomUUID().slice(0, 8)}`;
    const meter = await platformAdmin.browser.post('/v1/platform/meters', {
      key: meterX,
      aggregation: 'count',
    });
    expect(meter.statusCode, meter.body).toBe(201);
    const override = await ownerB.browser.put(`/v1/flags/${flagB}/override`, { value: true }, inOrg(b.id));
    expect(override.statusCode, override.body).toBe(200);
    // A finalized invoice of B (January 2026 closed by the local provider, on fixture plan inputs).
    invoiceB = (
      await closeJanuary(c, b.id, 'xt', {
        now: '2026-02-02T00:00:00Z',
        planKey: 'pro',
        components: [{ model: 'flat', amount: 4900 }],
        usage: {},
      })
    ).id;
    // A webhook endpoint of B (for an event nothing here causes, so nothing changes it while the test
    // runs) and a delivery of B (an event and its delivery written in B's scope; no job sends it).
    const hook = await ownerB.browser.post(
      '/v1/webhooks/endpoints',
      { url: 'https://hooks.example.test/b', eventTypes: ['organization.deleted'] },
      inOrg(b.id),
    );
    expect(hook.statusCode, hook.body).toBe(201);
    webhookEndpointB = hook.json<{ id: string }>().id;
    rememberSecret(hook.json<{ secret: string }>().secret);
    webhookDeliveryB = randomUUID();
    await c.tenancy.withTenant(b.id, async (db) => {
      const ev = randomUUID();
      await sql`insert into webhook_events (organization_id, id, type, payload, occurred_at, dispatched_at)
        values (${b.id}, ${ev}, 'organization.deleted', '{}', now(), now())`.execute(db);
      await sql`insert into webhook_deliveries (organization_id, id, event_id, endpoint_id, status)
        values (${b.id}, ${webhookDeliveryB}, ${ev}, ${webhookEndpointB}, 'dead')`.execute(db);
    });
    const exported = await ownerB.browser.post('/v1/organization/export', undefined, inOrg(b.id));
    expect(exported.statusCode, exported.body).toBe(202);
    exportB = exported.json<{ id: string }>().id;
    const scimToken = await ownerB.browser.post('/v1/scim/tokens', {}, inOrg(b.id));
    expect(scimToken.statusCode, scimToken.body).toBe(201);
    scimTokenB = scimToken.json<{ id: string }>().id;
    rememberSecret(scimToken.json<{ secret: string }>().secret);
    // A directory group of B, created by B's identity provider.
    const scimGroup = await c.app.inject({
      method: 'POST',
      url: '/scim/v2/Groups',
      headers: { authorization: `Bearer ${scimToken.json<{ secret: string }>().secret}` },
      payload: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'B group' },
    });
    expect(scimGroup.statusCode, scimGroup.body).toBe(201);
    scimGroupB = scimGroup.json<{ id: string }>().id;
    // An SSO connection and a domain of B.
    const conn = await ownerB.browser.post(
      '/v1/sso/connections',
      { kind: 'saml', name: 'B IdP', saml: { idpMetadataXml: PLANTED_METADATA } },
      inOrg(b.id),
    );
    expect(conn.statusCode, conn.body).toBe(201);
    ssoConnectionB = conn.json<{ id: string }>().id;
    const dom = await ownerB.browser.post('/v1/sso/domains', { domain: ssoDomainB }, inOrg(b.id));
    expect(dom.statusCode, dom.body).toBe(201);
    // The attacker's session acts in A by default.
    expect((await attacker.browser.post('/v1/session/switch', { organization: a.id })).statusCode).toBe(200);
    snapshotB = await stateOfB();
  });

  it('every tenant route of the app is exercised here', () => {
    const known = Object.keys(callsWith(idsOfB()));
    expect([...new Set(tenantRoutes().map((r) => r.key))].sort()).toEqual(known.sort());
  });

  it('naming B by X-Organization (id, slug), path or subdomain: 404 on every route, as for no org', async () => {
    const calls = callsWith(idsOfB()) as Record<string, Call>;
    for (const { method, key } of tenantRoutes()) {
      const call = calls[key]!;
      for (const [how, url, headers] of [
        ['header id', call.url, inOrg(b.id)],
        ['header slug', call.url, inOrg(b.slug)],
        ['path', `/v1/orgs/${b.slug}${call.url.slice(3)}`, {}],
        ['subdomain', call.url, { host: `${b.slug}.${BASE_DOMAIN}` }],
      ] as const) {
        const res = await attacker.browser.req(method, url, call.body, headers);
        // The body and the app's log of the request in the message: a 500 here says what failed.
        expect({ key, how, status: res.statusCode }, answerWithLogs(c, res)).toEqual({
          key,
          how,
          status: 404,
        });
        if (method !== 'HEAD') expect(res.json()).toEqual(ORG_NOT_FOUND);
      }
    }
    expect(await stateOfB()).toBe(snapshotB);
  });

  // A flag key names a global definition, not a resource of B: `PUT /v1/flags/:key/override` acting in A
  // sets A's own override (checked with the routes that take no id).
  const takesId = (key: string) =>
    (key.includes(':') && !key.startsWith('PUT /v1/flags/')) || key.endsWith('transfer-ownership');

  it('an API key of A can neither write usage to B nor read B’s summaries, whatever names B', async () => {
    const made = await attacker.browser.post(
      '/v1/api-keys',
      { name: 'usage', scopes: ['usage:write', 'usage:read'] },
      inOrg(a.id),
    );
    expect(made.statusCode, made.body).toBe(201);
    const key = api(c, made.json<{ secret: string }>().secret);
    const before = await usageEventsOfB();
    const event = { id: `x-${randomUUID()}`, meter: meterX, timestamp: new Date().toISOString() };
    for (const [how, url, headers] of [
      ['header id', '/v1/usage/events', inOrg(b.id)],
      ['header slug', '/v1/usage/events', inOrg(b.slug)],
      ['path', `/v1/orgs/${b.slug}/usage/events`, {}],
      ['subdomain', '/v1/usage/events', { host: `${b.slug}.${BASE_DOMAIN}` }],
    ] as const) {
      const res = await key.post(url, { events: [event] }, headers);
      expect({ how, ok: res.statusCode < 300 }).toEqual({ how, ok: false });
      const summary = await key.get(`${url.replace('/events', '/summary')}?${summaryQuery()}`, headers);
      expect({ how, ok: summary.statusCode < 300 }).toEqual({ how, ok: false });
    }
    expect(await usageEventsOfB()).toEqual(before);
    // The same key without naming anyone: the event is A's.
    const own = await key.post('/v1/usage/events', { events: [event] });
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json<{ accepted: number }>().accepted).toBe(1);
    expect(await usageEventsOfB()).toEqual(before);
  });

  it('B’s resource ids used inside A: 404 exactly like ids that exist nowhere', async () => {
    const withB = callsWith(idsOfB()) as Record<string, Call>;
    const withMissing = callsWith({
      project: missing,
      user: missing,
      role: 'no_such_role',
      invitation: missing,
      apiKey: missing,
      flag: 'no-such-flag',
      invoice: missing,
      webhookEndpoint: missing,
      webhookDelivery: missing,
      export: missing,
      scimToken: missing,
      scimGroup: missing,
      ssoConnection: missing,
      ssoDomain: 'nowhere-at-all.test',
    }) as Record<string, Call>;
    const idRoutes = tenantRoutes().filter((r) => r.method !== 'HEAD' && takesId(r.key));
    expect(idRoutes).toHaveLength(31);
    for (const { method, key } of idRoutes) {
      const got = await attacker.browser.req(method, withB[key]!.url, withB[key]!.body);
      const none = await attacker.browser.req(method, withMissing[key]!.url, withMissing[key]!.body);
      expect({ key, status: got.statusCode }).toEqual({ key, status: 404 });
      expect({ key, body: got.body }).toEqual({ key, body: none.body });
    }
    expect(await stateOfB()).toBe(snapshotB);
  });

  it('routes that take no id act on A, never on B', async () => {
    const calls = callsWith(idsOfB()) as Record<string, Call>;
    const expected: Record<string, number> = {
      'POST /v1/projects': 201,
      'GET /v1/projects': 200,
      'GET /v1/organization': 200,
      'PATCH /v1/organization': 200,
      'PUT /v1/organization/two-factor-policy': 200,
      'GET /v1/members': 200,
      // Refused for A's own reason: the attacker is A's last owner.
      'POST /v1/members/leave': 409,
      'GET /v1/roles': 200,
      'POST /v1/roles': 201,
      'POST /v1/invitations': 201,
      'GET /v1/invitations': 200,
      'POST /v1/api-keys': 201,
      'GET /v1/api-keys': 200,
      'GET /v1/flags': 200,
      'GET /v1/flags/overrides': 200,
      // Every flag that allows overrides, with A's own override (none of B's).
      'GET /v1/flags/overridable': 200,
      // Sets A's own override of the (global) flag B overrode.
      'PUT /v1/flags/:key/override': 200,
      'GET /v1/audit-logs': 200,
      'GET /v1/audit-logs/export': 200,
      'GET /v1/audit-logs/verify': 200,
      'POST /v1/audit-logs/checkpoints': 201,
      'GET /v1/audit-logs/checkpoints': 200,
      'GET /v1/billing/invoices': 200,
      // A's own current period, from A's plan, members and aggregates.
      'GET /v1/billing/preview': 200,
      // The local provider (this app has no Stripe keys): no links at all; with Stripe, A's customer's
      // (src/modules/billing/stripe.test.ts).
      'GET /v1/billing/provider': 200,
      'POST /v1/billing/checkout-session': 409,
      'POST /v1/billing/portal-session': 409,
      // Recorded for A (the credentials' organization), summarized from A's aggregates.
      'POST /v1/usage/events': 200,
      'GET /v1/usage/summary': 200,
      'GET /v1/billing/plan': 200,
      // Moves A (never B) to another plan.
      'PUT /v1/billing/plan': 200,
      // A's own data key versions; a rotation of A's key (B's key untouched: stateOfB).
      'GET /v1/organization/keys': 200,
      'POST /v1/organization/keys/rotate': 202,
      'GET /v1/webhooks/event-types': 200,
      // An endpoint of A (B's list is unchanged).
      'POST /v1/webhooks/endpoints': 201,
      'GET /v1/webhooks/endpoints': 200,
      // An export of A (the job reads A's tables in A's scope only: test/e2e/gdpr-export.test.ts).
      'POST /v1/organization/export': 202,
      'GET /v1/organization/exports': 200,
      // A's own SCIM token and sync log (B's tokens are unchanged: stateOfB).
      'POST /v1/scim/tokens': 201,
      'GET /v1/scim/tokens': 200,
      'GET /v1/scim/events': 200,
      // A's own SSO connections, domains and setting (B's lists are unchanged: stateOfB).
      'GET /v1/sso/connections': 200,
      'POST /v1/sso/connections': 201,
      'GET /v1/sso/domains': 200,
      'POST /v1/sso/domains': 201,
      'GET /v1/sso/settings': 200,
      'PUT /v1/sso/settings': 200,
      // A's own deletion, of which there is none (B's is never touched).
      'POST /v1/organization/cancel-deletion': 409,
      // Last: it schedules A's deletion (A is read-only from then on).
      'DELETE /v1/organization': 202,
    };
    const noId = tenantRoutes().filter((r) => r.method !== 'HEAD' && !takesId(r.key));
    expect(noId.map((r) => r.key).sort()).toEqual(Object.keys(expected).sort());
    for (const key of Object.keys(expected)) {
      const [method] = key.split(' ') as [Method];
      const res = await attacker.browser.req(method, calls[key]!.url, calls[key]!.body);
      expect({ key, status: res.statusCode }).toEqual({ key, status: expected[key] });
      expect({
        key,
        leaks: res.body.includes(b.id) || res.body.includes(projectB) || res.body.includes(invoiceB),
      }).toEqual({
        key,
        leaks: false,
      });
      if (key.endsWith(' /v1/organization')) expect(res.json()).toMatchObject({ id: a.id });
    }
    expect(await stateOfB()).toBe(snapshotB);

    // It was A that changed.
    const aNow = await c.tenancy.withTenant(a.id, async (db) => ({
      org: await db
        .selectFrom('organizations')
        .select(['name', 'deletion_requested_at', 'plan'])
        .where('id', '=', a.id)
        .executeTakeFirstOrThrow(),
      projects: await db.selectFrom('projects').select('name').where('organization_id', '=', a.id).execute(),
      roles: await db.selectFrom('roles').select('key').where('organization_id', '=', a.id).execute(),
      overrides: await db
        .selectFrom('feature_flag_overrides')
        .select(['flag_key', 'value'])
        .where('organization_id', '=', a.id)
        .execute(),
    }));
    expect(aNow.org.name).toBe('hijacked');
    expect(aNow.org.deletion_requested_at).not.toBeNull();
    expect(aNow.org.plan).toBe('pro');
    expect(aNow.projects.map((p) => p.name).sort()).toEqual(['A project', 'planted']);
    expect(aNow.roles.map((r) => r.key)).toEqual(['planted']);
    expect(aNow.overrides).toEqual([{ flag_key: flagB, value: true }]);
  });

  if (kinds.a === 'schema' || kinds.b === 'schema')
    it("a schema-placed organization's rows are all in its schema: none in public's placed tables", async () => {
      const admin: pg.Client = await connect(where.db.adminUrl);
      try {
        for (const org of schemaPlaced()) {
          for (const t of await placedTables(admin)) {
            const n = await admin.query<{ n: number }>(
              `select count(*)::int as n from public.${t} where organization_id = $1`,
              [org],
            );
            expect({ t, n: n.rows[0]!.n }).toEqual({ t, n: 0 });
          }
          const own = await admin.query<{ n: number }>(
            `select count(*)::int as n from ${where.schemaOf(org)}.projects where organization_id = $1`,
            [org],
          );
          expect(own.rows[0]!.n).toBeGreaterThan(0);
        }
      } finally {
        await admin.end();
      }
    });

  if (kinds.a === 'database' || kinds.b === 'database')
    it("a database-placed organization's placed rows are all in the tenant database, its directory rows in the control database", async () => {
      const admin: pg.Client = await connect(where.db.adminUrl);
      const tenantAdmin: pg.Client = await connect(tenantDb!.adminUrl);
      const count = async (db: pg.Client, table: string, org: string) =>
        (
          await db.query<{ n: number }>(
            `select count(*)::int as n from public.${table} where organization_id = $1`,
            [org],
          )
        ).rows[0]!.n;
      try {
        for (const org of databasePlaced()) {
          expect((await c.tenancy.router.resolve(org)).db).toBe(c.tenancy.databases!.get(TENANT_DB)!.db);
          for (const t of await placedTables(admin)) {
            expect({ t, n: await count(admin, t, org) }).toEqual({ t, n: 0 });
          }
          for (const t of ['projects', 'roles']) {
            expect({ t, n: (await count(tenantAdmin, t, org)) > 0 }).toEqual({ t, n: true });
          }
          for (const t of ['memberships', 'invitations', 'api_keys']) {
            expect({
              t,
              control: (await count(admin, t, org)) > 0,
              tenant: await count(tenantAdmin, t, org),
            }).toEqual({
              t,
              control: true,
              tenant: 0,
            });
          }
        }
      } finally {
        await tenantAdmin.end();
        await admin.end();
      }
    });
});
