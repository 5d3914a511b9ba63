import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { syncPlacementSchema } from '../tenancy/placement-schema.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createAuditService, type AuditService } from '../../modules/audit/audit.service.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import type { Database } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import { runWithContext, type Principal, type TenantCtx } from '../tenancy/context.js';
import { tenantSchemaName } from '../tenancy/placed-tables.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { createKeyVault } from '../tenant-keys/key-vault.js';
import { endOwnerPool, legacySealFixture } from './legacy-seal.test-support.js';
import { sealLegacyAll, type LegacySealDeps } from './legacy-seal.js';
import { recordAudit, type AuditEventInput } from './record.js';
import { isSealedPersonal, sealedFor } from '../user-keys/personal-seal.js';
import { sealPending } from './seal.js';

/**
 * `audit seal-legacy` with an organization placed in its own schema, on a database of its own: the run
 * lists its chain from its schema and rewrites it there (the owner role, the schema's own tables), and the
 * chain verifies afterwards.
 */
describe('audit seal-legacy: a schema-placed organization', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let ownerPool: pg.Pool;
  let db: Kysely<Database>;
  let vault: ReturnType<typeof createKeyVault>;
  let audit: AuditService;
  let deps: LegacySealDeps;
  const userId = uuidv7();
  const ip = `2001:db8:${randomBytes(2).toString('hex')}::1`;
  const ctx = (org: string, actor: Principal): TenantCtx => ({ tenantId: org, actor, requestId: 'lgp' });

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_place_legacy');
    tenancy = createTenancy({ url: own.url, poolSize: 2 });
    admin = await connect(own.adminUrl);
    ownerPool = new pg.Pool({ connectionString: own.migrationUrl, max: 2 });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
    const keys = await legacySealFixture({ keyVaultUrl: own.keyVaultUrl, pool: ownerPool, db });
    ({ vault, deps } = keys);
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer: keys.signer,
      verifier: keys.verifier,
      userKeys: keys.store,
    });
    await admin.query('insert into users (id, email, email_normalized) values ($1, $2, $2)', [
      userId,
      `lgp-${userId}@example.test`,
    ]);
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await endOwnerPool(db, ownerPool);
    await tenancy?.close();
    await vault?.close();
    if (own) await dropProvisioned(own);
  });

  it('lists and rewrites its chain in its schema; the chain verifies', async () => {
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'lgp', name: 'L' })).id;
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, org);
    tenancy.router.invalidate(org);
    const schema = tenantSchemaName(org);
    const user: Principal = { kind: 'user', userId };
    // As a pre-0028 deployment wrote them: no key store registered, the fields in clear.
    for (const action of ['thing.created', 'thing.updated']) {
      await runWithContext({ requestId: 'lgp', principal: user, ip, userAgent: 'ua' }, () =>
        tenancy.withTenant(org, (d) =>
          recordAudit(d, ctx(org, user), { action, target: { type: 'thing', id: 't1' } }),
        ),
      );
    }
    await sealPending(tenancy.withTenant, org);
    await audit.checkpoint(ctx(org, user));
    const clear = async () =>
      (
        await admin.query<{ n: number }>(
          `select count(*)::int as n from "${schema}".audit_events where organization_id = $1 and ip = $2`,
          [org, ip],
        )
      ).rows[0]!.n;
    expect(await clear()).toBe(2);

    const results = await sealLegacyAll(deps);
    expect(results.find((r) => r.chain === org)).toMatchObject({
      status: 'rewritten',
      entriesRewritten: 2,
      checkpointsResigned: 1,
    });
    expect(await clear()).toBe(0);
    const v = await audit.verify(ctx(org, user));
    expect(v).toMatchObject({ valid: true, entriesChecked: 2, checkpointsChecked: 1 });
    const page = await audit.list(ctx(org, user), {});
    expect(page.data.map((e) => e.ip)).toEqual([ip, ip]);
    // Its tables keep their protections once the run's transaction ended.
    const rls = await admin.query<{ force: boolean }>(
      `select relforcerowsecurity as force from pg_class where oid = $1::regclass`,
      [`"${schema}".audit_events`],
    );
    expect(rls.rows[0]!.force).toBe(true);
  });

  it('a pooled organization whose schema is synchronized ahead of its move keeps its chain in public', async () => {
    // The schema exists (synchronized, empty) but the placement is still pooled: the chain is public's,
    // as the sealer and every scope see it; the run must not read the empty schema instead.
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'lgp-ahead', name: 'A' })).id;
    const user: Principal = { kind: 'user', userId };
    for (const action of ['thing.created', 'thing.updated']) {
      await runWithContext({ requestId: 'lgp', principal: user, ip, userAgent: 'ua' }, () =>
        tenancy.withTenant(org, (d) =>
          recordAudit(d, ctx(org, user), { action, target: { type: 'thing', id: 't2' } }),
        ),
      );
    }
    await sealPending(tenancy.withTenant, org);
    const owner = await connect(own.migrationUrl);
    try {
      await syncPlacementSchema(owner, org, own.roles);
    } finally {
      await owner.end();
    }
    const clear = async () =>
      (
        await admin.query<{ n: number }>(
          `select count(*)::int as n from public.audit_events where organization_id = $1 and ip = $2`,
          [org, ip],
        )
      ).rows[0]!.n;
    expect(await clear()).toBe(2);

    const results = await sealLegacyAll(deps);
    expect(results.find((r) => r.chain === org)).toMatchObject({ status: 'rewritten', entriesRewritten: 2 });
    expect(await clear()).toBe(0);
    const v = await audit.verify(ctx(org, user));
    expect(v).toMatchObject({ valid: true, entriesChecked: 2 });
  });

  it('seals the clear personal metadata a schema-placed organization recorded without a key store (invitation address, provisioned user address)', async () => {
    // What earlier versions wrote for a schema-placed organization: the key store was registered on the
    // control database's handle only, so every field of the event stayed in clear.
    const org = (await createBareOrganization(tenancy.withTenant, { slug: 'lgp-meta', name: 'M' })).id;
    await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, org);
    tenancy.router.invalidate(org);
    const schema = tenantSchemaName(org);
    const user: Principal = { kind: 'user', userId };
    const invitee = `lgp-invitee-${randomBytes(4).toString('hex')}@example.test`;
    const provisioned = `lgp-${userId}@example.test`;
    const events: AuditEventInput[] = [
      {
        action: 'member.invited',
        target: { type: 'invitation', id: uuidv7() },
        metadata: { email: invitee, role: 'member' },
        personal: { subject: { kind: 'email', email: invitee }, keys: ['email'] },
      },
      {
        action: 'user.provisioned',
        target: { type: 'user', id: userId },
        metadata: { connection_id: uuidv7(), email: provisioned },
        personal: { subject: { kind: 'user', userId }, keys: ['email'] },
      },
    ];
    for (const event of events) {
      await runWithContext({ requestId: 'lgp', principal: user, ip, userAgent: 'ua' }, () =>
        tenancy.withTenant(org, (d) => recordAudit(d, ctx(org, user), event)),
      );
    }
    await sealPending(tenancy.withTenant, org);
    const stored = async () =>
      (
        await admin.query<{ action: string; ip: string; metadata: { email: string } }>(
          `select action, ip, metadata from "${schema}".audit_events where organization_id = $1 order by seq`,
          [org],
        )
      ).rows;
    expect((await stored()).map((r) => [r.ip, r.metadata.email])).toEqual([
      [ip, invitee],
      [ip, provisioned],
    ]);

    const results = await sealLegacyAll(deps);
    expect(results.find((r) => r.chain === org)).toMatchObject({ status: 'rewritten', entriesRewritten: 2 });
    const after = await stored();
    for (const r of after) {
      expect(isSealedPersonal(r.ip)).toBe(true);
      expect(isSealedPersonal(r.metadata.email)).toBe(true);
    }
    expect(sealedFor(after[1]!.metadata.email)).toBe(userId); // the provisioned user's key
    expect(sealedFor(after[0]!.metadata.email)).not.toBe(userId); // the address's own key
    expect(await audit.verify(ctx(org, user))).toMatchObject({ valid: true, entriesChecked: 2 });
    const page = await audit.list(ctx(org, user), {});
    expect(page.data.map((e) => [e.action, e.ip, (e.metadata as { email: string }).email])).toEqual([
      ['user.provisioned', ip, provisioned],
      ['member.invited', ip, invitee],
    ]);
  });
});
