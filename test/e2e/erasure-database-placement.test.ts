/**
 * Erasure of a user who acted in an organization placed by hand in a tenant database (`database`
 * placement, real composition): that database holds no users, yet the composition's key store seals the
 * actor's IP address and user agent there like a pooled organization's, and once the user is erased
 * (`DELETE /v1/account`) they no longer open, later events of theirs keep none, and the chain verifies.
 * A tenant database of its own (provisioned, migrated), beside the suite's control database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { uuidv7 } from '../../src/platform/ids.js';
import { recordAudit } from '../../src/platform/audit/record.js';
import { openPersonalFields } from '../../src/platform/audit/personal-fields.js';
import { createAuditVerifier } from '../../src/platform/audit/signing.js';
import { runWithContext, type TenantCtx } from '../../src/platform/tenancy/context.js';
import { isSealedPersonal, sealedFor } from '../../src/platform/user-keys/personal-seal.js';
import { verifyOrganizationChain } from '../../src/modules/audit/audit-verification.js';
import { placeInT1 } from '../../src/platform/tenancy/split.test-support.js';
import { signUp, startApp, stopApp, tenantDatabasesOption, type E2eApp, type User } from './helpers.js';

describe('erasure of a user who acted in a database-placed organization (real composition)', () => {
  let tenant: ProvisionedDatabase;
  let c: E2eApp;
  let admin: pg.Client;
  let tenantAdmin: pg.Client;
  let user: User;
  let org: string;
  const ip = '203.0.113.92';
  const ua = `database-erasee-agent/${uuidv7().slice(-12)}`;

  /** One audited write as the user in the organization, through the composition's tenancy. */
  const write = (action: string) => {
    const ctx: TenantCtx = { tenantId: org, actor: { kind: 'user', userId: user.userId }, requestId: action };
    return runWithContext({ requestId: action, principal: ctx.actor, ip, userAgent: ua }, () =>
      c.tenancy.withTenant(org, (db) => recordAudit(db, ctx, { action, target: { type: 'thing', id: 't' } })),
    );
  };
  /** The organization's audit rows in the tenant database (chained or still pending), as the superuser. */
  const stored = async () =>
    (
      await tenantAdmin.query<{
        id: string;
        organization_id: string;
        action: string;
        ip: string | null;
        user_agent: string | null;
        metadata: unknown;
      }>(
        `select id, organization_id, action, ip, user_agent, metadata from audit_events where organization_id = $1
         union all
         select id, organization_id, action, ip, user_agent, metadata from audit_pending where organization_id = $1`,
        [org],
      )
    ).rows;

  beforeAll(async () => {
    tenant = await provisionDatabase(testDb().superuserUrl, 'sr_dbkeys_e2e', { tenantDatabase: true });
    c = await startApp({
      tenantDatabases: tenantDatabasesOption({ t1: { url: tenant.url } }, { maxConnections: 4, poolSize: 4 }),
    });
    admin = await connect(testDb().adminUrl);
    tenantAdmin = await connect(tenant.adminUrl);
    user = await signUp(c, 'database-erasee');
    // Placed by hand: created in the control database, its placement set to the tenant database.
    org = await placeInT1({ tenancy: c.tenancy, admin, tenantAdmin }, `dbk-e2e-${uuidv7().slice(-8)}`, 'dbk');
  }, 120_000);
  afterAll(async () => {
    await tenantAdmin?.end();
    await admin?.end();
    await stopApp(c);
    if (tenant) await dropProvisioned(tenant);
  });

  it('stores the actor’s IP and user agent sealed in the tenant database; erasure makes them unreadable; the chain verifies', async () => {
    expect((await c.tenancy.router.resolve(org)).db).toBe(c.tenancy.databases!.get('t1')!.db);
    await write('thing.created');
    const [row] = await stored();
    expect(isSealedPersonal(row!.ip)).toBe(true);
    expect(sealedFor(row!.ip!)).toBe(user.userId);
    expect(isSealedPersonal(row!.user_agent)).toBe(true);
    for (const needle of [ua, ip]) expect(JSON.stringify(row)).not.toContain(needle);
    const open = async () =>
      (await openPersonalFields(c.services.userKeys, c.tenancy.control.db, [row!]))[0]!;
    expect(await open()).toMatchObject({ ip, userAgent: ua, erased: [] });

    const erased = await user.browser.req('DELETE', '/v1/account', { password: user.password });
    expect(erased.statusCode, erased.body).toBe(204);
    expect(await open()).toMatchObject({ ip: null, userAgent: null, erased: ['ip', 'user_agent'] });

    // An erased user's later events there keep no personal field (no key is made for them again).
    await write('thing.updated');
    const later = (await stored()).find((r) => r.action === 'thing.updated');
    expect([later!.ip, later!.user_agent]).toEqual([null, null]);
    expect(await verifyOrganizationChain(c.tenancy.withTenant, createAuditVerifier([]), org)).toMatchObject({
      valid: true,
      entriesChecked: 2,
      lastSeq: 2,
    });
  });
});
