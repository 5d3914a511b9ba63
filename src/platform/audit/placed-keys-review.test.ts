import { randomBytes, randomUUID } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { placeInSchema } from '../../../test/support/placements.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import type { Database } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import { runWithContext } from '../tenancy/context.js';
import { tenantSchemaName } from '../tenancy/placed-tables.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { databaseOf } from '../tenancy/tenant-database.js';
import { createTenantDatabasePools } from '../tenancy/tenant-database-pools.js';
import type { createKeyVault } from '../tenant-keys/key-vault.js';
import type { UserKeyStore } from '../user-keys/user-keys.js';
import { isSealedPersonal, sealedFor } from '../user-keys/personal-seal.js';
import { endOwnerPool, legacySealFixture } from './legacy-seal.test-support.js';
import { sealLegacyAll, type LegacySealDeps } from './legacy-seal.js';
import { recordAudit, type AuditEventInput } from './record.js';
import { usePersonalDataKeys } from './personal-fields.js';
import {
  insertUser,
  newOrganization,
  personalKeyStore,
  placeInSchemaAndMove,
  storedRows,
  userCtx,
} from './personal-keys.test-support.js';
import { sealPending } from './seal.js';
import { createAuditSealer } from './sealer.js';
import { testMoveService } from '../../../test/support/placement-moves.js';
import { auditSealOrganizations } from '../tenancy/privileged.js';

/**
 * A hostile review of `databaseOf` / `sameDatabaseAs` (schema-placed and moving organizations sharing the
 * control database's key store and sealer) and of `audit seal-legacy` on placed organizations. Tests named
 * `holds:` pin what was checked and held; the others failed before their fix (pending events chained in
 * clear after the run; a run during an online move made its catch-up fail).
 */
describe('placed organizations: personal-key registrations and the legacy seal, under review', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let vault: ReturnType<typeof createKeyVault>;
  let store: UserKeyStore;
  let placed: string;
  let moving: string;
  const ip = '198.51.100.91';
  const ua = `r10-agent/${randomBytes(4).toString('hex')}`;

  const ctxOf = (org: string, userId: string) => userCtx(org, userId, 'r10');
  const newUser = async () => {
    const id = randomUUID();
    await insertUser(admin, id, 'r10');
    return id;
  };
  const pendingOf = (nsp: string, org: string) => storedRows(admin, nsp, 'audit_pending', org);

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_review10');
    tenancy = createTenancy({ url: own.url, poolSize: 3 });
    admin = await connect(own.adminUrl);
    ({ vault, store } = await personalKeyStore({ keyVaultUrl: own.keyVaultUrl }));
    usePersonalDataKeys(tenancy.control.db, store);
    const make = (slug: string) => newOrganization(tenancy, slug, randomUUID().slice(0, 8));
    placed = await make('r10-schema');
    moving = await make('r10-moving');
    await placeInSchemaAndMove(own, admin, tenancy, { placed, moving });
  }, 120_000);
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    await vault?.close();
    if (own) await dropProvisioned(own);
  });

  for (const which of ['schema', 'moving'] as const) {
    it(`holds: ${which}: a user's first key ever is created in the organization's own write, cached only after its COMMIT`, async () => {
      const org = which === 'schema' ? placed : moving;
      const nsp = which === 'schema' ? tenantSchemaName(org) : 'public';
      const userId = await newUser();
      const write = (fail: boolean) =>
        runWithContext({ requestId: 'r10', principal: ctxOf(org, userId).actor, ip, userAgent: ua }, () =>
          tenancy.withTenant(org, async (db) => {
            await recordAudit(db, ctxOf(org, userId), {
              action: 'thing.created',
              target: { type: 'thing', id: 'x' },
            });
            if (fail) throw new Error('rolled back');
          }),
        );
      const before = (await pendingOf(nsp, org)).length;
      await expect(write(true)).rejects.toThrow('rolled back');
      expect(store.cached(userId)).toBeUndefined();
      await write(false);
      const rows = await pendingOf(nsp, org);
      expect(rows).toHaveLength(before + 1);
      const row = rows.at(-1)!;
      expect(isSealedPersonal(row.ip)).toBe(true);
      expect(sealedFor(row.ip!)).toBe(userId);
      expect(store.cached(userId)?.kind).toBe('key');
    });
  }

  it('holds: schema: a just-in-time account (user inserted in the same transaction) has its provisioned address sealed under its key', async () => {
    const userId = randomUUID();
    const email = `r10-jit-${userId}@example.test`;
    await runWithContext(
      { requestId: 'r10', principal: ctxOf(placed, userId).actor, ip, userAgent: ua },
      () =>
        tenancy.withTenant(placed, async (db) => {
          await sql`insert into users (id, email, email_normalized, email_verified_at) values (${userId}, ${email}, ${email}, now())`.execute(
            db,
          );
          await recordAudit(db, ctxOf(placed, userId), {
            action: 'user.provisioned',
            target: { type: 'user', id: userId },
            metadata: { connection_id: uuidv7(), email },
            personal: { subject: { kind: 'user', userId }, keys: ['email'] },
          });
        }),
    );
    const row = (await pendingOf(tenantSchemaName(placed), placed)).at(-1)!;
    expect(isSealedPersonal(row.metadata.email)).toBe(true);
    expect(sealedFor(row.metadata.email!)).toBe(userId);
  });

  it('holds: a tenant database (database placement) handle does not share the control database registrations', async () => {
    const pools = createTenantDatabasePools({ databases: { t1: { url: own.url } }, maxConnections: 2 });
    try {
      const t = pools.get('t1')!;
      expect(databaseOf(t.db)).toBe(t.db);
      expect(databaseOf(t.db)).not.toBe(tenancy.control.db);
    } finally {
      await pools.close();
    }
  });

  it("holds: the composition's sealer (sealMany on the control pool) chains a pooled, a schema-placed and a moving organization's events heard through their handles, without a reader", async () => {
    const pooled = (
      await createBareOrganization(tenancy.withTenant, {
        slug: `r10-p-${randomUUID().slice(0, 8)}`,
        name: 'P',
      })
    ).id;
    const sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db],
      delayMs: 600_000,
      sealMany: (orgs, max, budget) => auditSealOrganizations(tenancy.control.pool, orgs, max, budget),
    });
    try {
      const userId = await newUser();
      for (const org of [pooled, placed, moving]) {
        await runWithContext(
          { requestId: 'r10', principal: ctxOf(org, userId).actor, ip, userAgent: ua },
          () =>
            tenancy.withTenant(org, (db) =>
              recordAudit(db, ctxOf(org, userId), {
                action: 'thing.sealed',
                target: { type: 'thing', id: 's' },
              }),
            ),
        );
      }
      await sealer.flush();
      for (const [org, nsp] of [
        [pooled, 'public'],
        [placed, tenantSchemaName(placed)],
        [moving, 'public'],
      ] as const) {
        expect(await pendingOf(nsp, org), nsp).toHaveLength(0);
      }
    } finally {
      await sealer.stop();
    }
  });

  describe('seal-legacy', () => {
    let ownerPool: pg.Pool;
    let db: Kysely<Database>;
    let deps: LegacySealDeps;
    let lvault: { close(): Promise<void> };
    let lstore: UserKeyStore;
    beforeAll(async () => {
      ownerPool = new pg.Pool({ connectionString: own.migrationUrl, max: 2 });
      db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
      const keys = await legacySealFixture({ keyVaultUrl: own.keyVaultUrl, pool: ownerPool, db });
      ({ deps } = keys);
      lvault = keys.vault;
      lstore = keys.store;
    });
    afterAll(async () => {
      await endOwnerPool(db, ownerPool);
      await lvault?.close();
    });

    /**
     * A schema-placed organization and a user's `actions` in it, recorded with `ip` and `ua` through a
     * tenancy with no key store (an instance of an earlier version: the fields stay in clear), `after` run
     * after each. The caller closes `bare`.
     */
    async function schemaOrgWithClearEvents(
      name: string,
      actions: readonly string[],
      after?: (action: string, bare: Tenancy, org: string) => Promise<unknown>,
    ): Promise<{ org: string; bare: Tenancy }> {
      const org = (
        await createBareOrganization(tenancy.withTenant, {
          slug: `r10-${name.toLowerCase()}-${randomUUID().slice(0, 8)}`,
          name,
        })
      ).id;
      await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, org);
      const bare = createTenancy({ url: own.url, poolSize: 2 });
      try {
        const userId = await newUser();
        for (const action of actions) {
          await runWithContext(
            { requestId: 'r10', principal: { kind: 'user', userId }, ip, userAgent: ua },
            () =>
              bare.withTenant(org, (d) =>
                recordAudit(d, ctxOf(org, userId), { action, target: { type: 'thing', id: name } }),
              ),
          );
          await after?.(action, bare, org);
        }
      } catch (err) {
        await bare.close();
        throw err;
      }
      return { org, bare };
    }

    it('events an earlier version left in audit_pending (not yet chained) when seal-legacy runs are chained and sealed by it', async () => {
      const { org, bare } = await schemaOrgWithClearEvents('Q', ['thing.one', 'thing.two'], (action, b, o) =>
        // The first is chained before the run, the second is still pending when it runs.
        action === 'thing.one' ? sealPending(b.withTenant, o) : Promise.resolve(0),
      );
      try {
        await sealLegacyAll(deps);
        await sealPending(tenancy.withTenant, org); // the sealer or the sweep chains it afterwards
        const rows = (
          await admin.query<{ action: string; ip: string | null; user_agent: string | null }>(
            `select action, ip, user_agent from "${tenantSchemaName(org)}".audit_events where organization_id = $1 order by seq`,
            [org],
          )
        ).rows;
        expect(rows).toHaveLength(2);
        for (const r of rows) {
          expect(JSON.stringify(r), r.action).not.toContain(ip);
          expect(JSON.stringify(r), r.action).not.toContain(ua);
        }
      } finally {
        await bare.close();
      }
    });

    it('an organization whose events were all still pending (no chain yet) is listed, chained and sealed by the run', async () => {
      const { org, bare } = await schemaOrgWithClearEvents('P', ['thing.p1', 'thing.p2']);
      try {
        const heads = async () =>
          (
            await admin.query(
              `select 1 from "${tenantSchemaName(org)}".audit_chain_heads where organization_id = $1`,
              [org],
            )
          ).rowCount;
        expect(await heads()).toBe(0);
        const results = await sealLegacyAll(deps);
        expect(results.find((r) => r.chain === org)?.status).toBe('rewritten');
        const rows = (
          await admin.query<{ action: string; ip: string | null; user_agent: string | null }>(
            `select action, ip, user_agent from "${tenantSchemaName(org)}".audit_events
              where organization_id = $1 and action like 'thing.%' order by seq`,
            [org],
          )
        ).rows;
        expect(rows.map((r) => r.action)).toEqual(['thing.p1', 'thing.p2']);
        for (const r of rows) {
          expect(JSON.stringify(r), r.action).not.toContain(ip);
          expect(JSON.stringify(r), r.action).not.toContain(ua);
        }
      } finally {
        await bare.close();
      }
    });

    for (const at of ['switching', 'cleaning'] as const) {
      it(`seal-legacy run during an online move to a schema (at ${at}) leaves the moving organization's chain alone (reported), the move finishes, and a run after it seals the chain`, async () => {
        const org = (
          await createBareOrganization(tenancy.withTenant, {
            slug: `r10-m-${randomUUID().slice(0, 8)}`,
            name: 'M',
          })
        ).id;
        const bare = createTenancy({ url: own.url, poolSize: 2 });
        let during: string | undefined;
        const made = testMoveService(own.migrationUrl, own.roles, [tenancy, bare], {
          afterStep: async (m) => {
            if (m.step === at) during = (await sealLegacyAll(deps)).find((r) => r.chain === org)?.status;
          },
        });
        try {
          const userId = await newUser();
          for (const action of ['thing.a', 'thing.b', 'thing.c']) {
            await runWithContext(
              { requestId: 'r10', principal: { kind: 'user', userId }, ip, userAgent: ua },
              () =>
                bare.withTenant(org, (d) =>
                  recordAudit(d, ctxOf(org, userId), { action, target: { type: 'thing', id: 'm' } }),
                ),
            );
          }
          await sealPending(bare.withTenant, org);
          const move = await made.service.start(org, 'schema', 'r10');
          // The move's catch-up UPDATEs the target's audit_events, whose append-only trigger refuses it
          // (resuming the move fails the same way).
          const done = await made.service.run(move.id);
          expect(done.step).toBe('done');
          expect(during).toBe('moving');
          tenancy.router.invalidate(org);
          expect((await sealLegacyAll(deps)).find((r) => r.chain === org)?.status).toBe('rewritten');
          const rows = (
            await admin.query<{ action: string; ip: string | null }>(
              `select action, ip from "${tenantSchemaName(org)}".audit_events where organization_id = $1 order by seq`,
              [org],
            )
          ).rows;
          // The user's three, and the move's own event (a system actor's: no address), chained by the run.
          expect(rows.map((r) => r.action).sort()).toEqual([
            'organization.placement_moved',
            'thing.a',
            'thing.b',
            'thing.c',
          ]);
          for (const r of rows.filter((x) => x.action.startsWith('thing.'))) {
            expect(isSealedPersonal(r.ip), r.action).toBe(true);
          }
          tenancy.router.invalidate(org);
          const again = await sealLegacyAll(deps);
          expect(again.find((r) => r.chain === org)?.status ?? 'nothing_to_do').toBe('nothing_to_do');
        } finally {
          made.owner.on('error', () => {}); // a connection still closing at the database's drop
          await made.owner.end();
          await bare.close();
        }
      });
    }

    it('holds: user.provisioned of an erased user in a schema chain: its address is written null, and a second run is a no-op', async () => {
      // A fresh schema-placed organization whose events were recorded without a key store (as before).
      const org = (
        await createBareOrganization(tenancy.withTenant, {
          slug: `r10-l-${randomUUID().slice(0, 8)}`,
          name: 'L',
        })
      ).id;
      await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, org);
      const bare = createTenancy({ url: own.url, poolSize: 2 }); // no key store registered on it
      try {
        const erased = await newUser();
        const kept = await newUser();
        const events: [string, AuditEventInput][] = [erased, kept].map((u) => [
          u,
          {
            action: 'user.provisioned',
            target: { type: 'user', id: u },
            metadata: { connection_id: uuidv7(), email: `r10-${u}@example.test` },
            personal: { subject: { kind: 'user', userId: u }, keys: ['email'] },
          },
        ]);
        for (const [u, event] of events) {
          await runWithContext(
            { requestId: 'r10', principal: { kind: 'user', userId: u }, ip, userAgent: ua },
            () => bare.withTenant(org, (d) => recordAudit(d, ctxOf(org, u), event)),
          );
        }
        await sealPending(bare.withTenant, org);
        await lstore.destroy({ kind: 'user', userId: erased });
        const first = await sealLegacyAll(deps);
        expect(first.find((r) => r.chain === org)).toMatchObject({
          status: 'rewritten',
          entriesRewritten: 2,
        });
        const rows = (
          await admin.query<{ target_id: string; ip: string | null; metadata: { email: string | null } }>(
            `select target_id, ip, metadata from "${tenantSchemaName(org)}".audit_events where organization_id = $1 order by seq`,
            [org],
          )
        ).rows;
        expect(rows.map((r) => [r.ip, r.metadata.email])).toEqual([
          [null, null],
          [expect.stringMatching(/^pd1\./), expect.stringMatching(/^pd1\./)],
        ]);
        const second = await sealLegacyAll(deps);
        expect(second.find((r) => r.chain === org)).toMatchObject({ status: 'nothing_to_do' });
      } finally {
        await bare.close();
      }
    });
  });
});
