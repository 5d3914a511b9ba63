import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { verifyOrganizationChain } from '../../modules/audit/audit-verification.js';
import { createPlatformDb } from '../db/platform-db.js';
import { runWithContext } from '../tenancy/context.js';
import { closeSplit, openSplit, placeInT1, type SplitDatabases } from '../tenancy/split.test-support.js';
import type { createKeyVault } from '../tenant-keys/key-vault.js';
import type { UserKeyStore } from '../user-keys/user-keys.js';
import { isSealedPersonal, openPersonal, sealedFor } from '../user-keys/personal-seal.js';
import { recordAudit } from './record.js';
import {
  openPersonalFields,
  personalDataKeysOf,
  usePersonalDataKeys,
  usePersonalDataKeysInTenantDatabases,
} from './personal-fields.js';
import { createAuditSealer, type AuditSealer } from './sealer.js';
import { createAuditVerifier } from './signing.js';
import {
  expectStoredSealed,
  insertUser,
  personalKeyStore,
  type StoredRow,
  storedRows,
  userCtx,
  writeWithInvitee,
} from './personal-keys.test-support.js';

/**
 * An organization placed in a tenant database (`database` placement, TENANT_DATABASES): its scopes run on
 * that database, which holds no users. Wired as services/caches.ts wires it (the control database's store,
 * and the same store for every tenant database checking users in the control database), a user's audited
 * write there is sealed under the user's key like a pooled organization's, erasure makes it unreadable,
 * and an erased user gets no new key. Databases of their own: a control database and a tenant database,
 * both migrated.
 */
describe('personal fields of organizations in a tenant database (database placement)', () => {
  let split: SplitDatabases;
  let tenancy: SplitDatabases['tenancy'];
  let admin: pg.Client;
  let tenantAdmin: pg.Client;
  let vault: ReturnType<typeof createKeyVault>;
  let store: UserKeyStore;
  let sealer: AuditSealer;
  let org: string;
  const verifier = createAuditVerifier([]);
  const userId = randomUUID();
  const erased = randomUUID();
  const ip = '198.51.100.91';
  const ua = `db-agent/${randomBytes(6).toString('hex')}`;
  const email = `db-${randomBytes(5).toString('hex')}@example.test`;

  /** One audited write as `who` from `ip` with `ua` (its invitee's address personal). */
  const write = (who: string, action: string) =>
    writeWithInvitee(
      tenancy,
      { org, userId: who, requestId: 'db-request', ip, userAgent: ua, email },
      action,
    );
  /** The organization's rows of `table` in the tenant database, as the superuser. */
  const rowsOf = (table: string) => storedRows(tenantAdmin, 'public', table, org);
  const addUser = (id: string) => insertUser(admin, id, 'db-user');

  beforeAll(async () => {
    split = await openSplit('sr_dbkeys');
    ({ tenancy, admin, tenantAdmin } = split);
    ({ vault, store } = await personalKeyStore({ keyVaultUrl: split.control.keyVaultUrl }));
    // What services/caches.ts registers.
    usePersonalDataKeys(tenancy.control.db, store);
    usePersonalDataKeysInTenantDatabases(tenancy.databases!, store, createPlatformDb(tenancy.control.pool));
    sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db, tenancy.databases!.get('t1')!.db],
      delayMs: 600_000, // only flush() seals: nothing but what the sealer heard
    });
    // Placed by hand: created in the control database, its placement set to the tenant database.
    org = await placeInT1(split, `dbk-${userId.slice(0, 8)}`, 'dbk');
    // Users are rows of the control database only.
    await addUser(userId);
    await addUser(erased);
  }, 120_000);
  afterAll(async () => {
    await sealer?.stop();
    await vault?.close();
    await closeSplit(split);
  });

  it('routes the organization to the tenant database, whose handle has a key store (the premise)', async () => {
    const t1 = tenancy.databases!.get('t1')!;
    expect((await tenancy.router.resolve(org)).db).toBe(t1.db);
    expect(personalDataKeysOf(t1.db)).toBeDefined();
    // The tenant database holds no user: the check that lets a key be made is the control database's.
    const users = await tenantAdmin.query('select 1 from users where id = any($1::uuid[])', [
      [userId, erased],
    ]);
    expect(users.rows).toEqual([]);
  });

  it('ip, user agent and personal metadata are stored sealed, open with the key, and the chain verifies', async () => {
    expect(await vault.persons.get([userId])).toEqual([]); // the user's first event ever
    await write(userId, 'thing.created');
    const pending = await rowsOf('audit_pending');
    expect(pending).toHaveLength(1);
    const row = pending[0]!;
    expectStoredSealed(row, { userId, ip, ua, email });
    // The key was created in the vault and cached once the tenant transaction committed.
    expect(await vault.persons.get([userId])).toHaveLength(1);
    const key = store.cached(userId);
    expect(key?.kind).toBe('key');
    if (key?.kind !== 'key') return;
    expect(openPersonal(key.key, { organizationId: org, entryId: row.id, field: 'ip' }, row.ip!)).toBe(ip);

    // No reader, no sweep: the sealer heard the commit on the tenant database's handle.
    await sealer.flush();
    expect(await rowsOf('audit_pending')).toHaveLength(0);
    expect((await rowsOf('audit_events')).map((r) => r.id)).toEqual([row.id]);
    const opened = await openPersonalFields(store, tenancy.control.db, await rowsOf('audit_events'));
    expect(
      opened.map((o) => [o.ip, o.userAgent, (o.metadata as StoredRow['metadata']).email, o.erased]),
    ).toEqual([[ip, ua, email, []]]);
    expect(await verifyOrganizationChain(tenancy.withTenant, verifier, org)).toMatchObject({
      valid: true,
      entriesChecked: 1,
      lastSeq: 1,
    });
  });

  it('a user id that names no user in the control database gets no key (its fields are not sealed, as on control)', async () => {
    const nobody = randomUUID();
    await write(nobody, 'thing.touched');
    expect(await vault.persons.get([nobody])).toEqual([]);
    const last = (await rowsOf('audit_pending')).at(-1)!;
    expect(last.actor_id).toBe(nobody);
    expect(isSealedPersonal(last.ip)).toBe(false);
    await sealer.flush();
  });

  it('a user row written in the writing transaction counts too (as on control)', async () => {
    const fresh = randomUUID();
    const ctx = userCtx(org, fresh, 'db-fresh');
    await runWithContext({ requestId: 'db-fresh', principal: ctx.actor, ip, userAgent: ua }, () =>
      tenancy.withTenant(org, async (db) => {
        await db
          .insertInto('users')
          .values({
            id: fresh,
            email: `f-${fresh}@example.test`,
            email_normalized: `f-${fresh}@example.test`,
          })
          .execute();
        await recordAudit(db, ctx, { action: 'thing.fresh', target: { type: 'thing', id: 't1' } });
      }),
    );
    const last = (await rowsOf('audit_pending')).at(-1)!;
    expect(last.actor_id).toBe(fresh);
    expect(sealedFor(last.ip!)).toBe(fresh);
    expect(await vault.persons.get([fresh])).toHaveLength(1);
    await sealer.flush();
  });

  it('an erased user gets no new key: their later fields are written as null, as on control', async () => {
    // Erased before any event of theirs: the vault keeps a tombstone, which no writer replaces.
    await store.destroy({ kind: 'user', userId: erased });
    await write(erased, 'thing.updated');
    const last = (await rowsOf('audit_pending')).at(-1)!;
    expect(last.actor_id).toBe(erased);
    expect([last.ip, last.user_agent]).toEqual([null, null]);
    const [tomb] = await vault.persons.get([erased]);
    expect(tomb).toMatchObject({ subjectId: erased, wrapped: null, kekId: null });
    await sealer.flush();
  });

  it('erasing the user (destroying the key) leaves their fields unreadable; the chain still verifies', async () => {
    const rows = (await rowsOf('audit_events')).filter((r) => r.actor_id === userId);
    expect(rows).toHaveLength(1);
    await store.destroy({ kind: 'user', userId });
    await store.destroy({ kind: 'email', email });
    const after = await openPersonalFields(store, tenancy.control.db, rows);
    expect(after.map((o) => [o.ip, o.userAgent, o.erased])).toEqual([
      [null, null, ['ip', 'user_agent', 'metadata.email']],
    ]);
    // Their later events keep no personal field.
    await write(userId, 'thing.deleted');
    const last = (await rowsOf('audit_pending')).at(-1)!;
    expect([last.ip, last.user_agent]).toEqual([null, null]);
    expect(await verifyOrganizationChain(tenancy.withTenant, verifier, org)).toMatchObject({
      valid: true,
      entriesChecked: 5,
      lastSeq: 5,
      unsealed: { count: 0 },
    });
  });
});
