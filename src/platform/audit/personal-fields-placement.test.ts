import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { connect, testDb } from '../../../test/support/tenancy.js';
import { tenantSchemaName } from '../tenancy/placed-tables.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { databaseOf } from '../tenancy/tenant-database.js';
import type { createKeyVault } from '../tenant-keys/key-vault.js';
import type { UserKeyStore } from '../user-keys/user-keys.js';
import { openPersonal } from '../user-keys/personal-seal.js';
import { openPersonalFields, usePersonalDataKeys } from './personal-fields.js';
import { createAuditSealer, type AuditSealer } from './sealer.js';
import {
  expectStoredSealed,
  insertUser,
  newOrganization,
  personalKeyStore,
  placeInSchemaAndMove,
  storedRows,
  writeWithInvitee,
} from './personal-keys.test-support.js';

/**
 * An organization placed in its own schema, and one in an online move, run their scopes on handles of
 * their own (placement.ts), on the control database's pool. Wired as the composition wires it (the key
 * store and the sealer registered on the control database's handle), their audited writes are sealed
 * under the acting user's key like a pooled organization's, and the in-process sealer hears them.
 * A database of its own: placing an organization in a schema is DDL.
 */
describe('personal fields and the sealer for schema-placed and moving organizations', () => {
  let own: ProvisionedDatabase;
  let tenancy: Tenancy;
  let admin: pg.Client;
  let vault: ReturnType<typeof createKeyVault>;
  let store: UserKeyStore;
  let sealer: AuditSealer;
  let pooled: string;
  let placed: string;
  let moving: string;
  const userId = randomUUID();
  const ip = '198.51.100.77';
  const ua = `placed-agent/${randomBytes(6).toString('hex')}`;
  const email = `placed-${randomBytes(5).toString('hex')}@example.test`;

  /** One audited write as `userId` from `ip` with `ua` in `org` (its invitee's address personal). */
  const write = (org: string, action: string) =>
    writeWithInvitee(tenancy, { org, userId, requestId: 'placed-request', ip, userAgent: ua, email }, action);
  /** The organization's rows of `table` in its own schema (`nsp`), as the superuser. */
  const rowsOf = (nsp: string, table: string, org: string) => storedRows(admin, nsp, table, org);

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_placed_keys');
    tenancy = createTenancy({ url: own.url, poolSize: 3 });
    admin = await connect(own.adminUrl);
    ({ vault, store } = await personalKeyStore({ keyVaultUrl: own.keyVaultUrl }));
    // What compose.ts and services/caches.ts register: the control database's handle only.
    usePersonalDataKeys(tenancy.control.db, store);
    sealer = createAuditSealer({
      withTenant: tenancy.withTenant,
      databases: [tenancy.control.db],
      delayMs: 600_000, // only flush() seals: nothing but what the sealer heard
    });
    const make = (slug: string) => newOrganization(tenancy, slug, userId.slice(0, 8));
    pooled = await make('pk-pooled');
    placed = await make('pk-schema');
    moving = await make('pk-moving');
    await placeInSchemaAndMove(own, admin, tenancy, { placed, moving });
    await insertUser(admin, userId, 'pk-user');
  }, 120_000);
  afterAll(async () => {
    await sealer?.stop();
    await admin?.end();
    await tenancy?.close();
    await vault?.close();
    if (own) await dropProvisioned(own);
  });

  it('routes each organization to its own handle (the premise)', async () => {
    const [p, s, m] = await Promise.all([pooled, placed, moving].map((o) => tenancy.router.resolve(o)));
    expect(p).toBe(tenancy.control);
    expect(s).not.toBe(tenancy.control);
    expect(m).not.toBe(tenancy.control);
    expect(s!.key).toBe(`schema:${tenantSchemaName(placed)}`);
    expect(m!.key).toBe(`moving:${moving}`);
    // Their own handles, on the control database: they share its registrations.
    expect(databaseOf(s!.db)).toBe(tenancy.control.db);
    expect(databaseOf(m!.db)).toBe(tenancy.control.db);
  });

  for (const which of ['pooled', 'schema', 'moving'] as const) {
    it(`${which}: ip, user agent and personal metadata are stored sealed, open with the key, and the in-process sealer seals the event`, async () => {
      const org = { pooled, schema: placed, moving }[which];
      const nsp = which === 'schema' ? tenantSchemaName(org) : 'public';
      await write(org, 'thing.created');
      const pending = await rowsOf(nsp, 'audit_pending', org);
      expect(pending).toHaveLength(1);
      const row = pending[0]!;
      expectStoredSealed(row, { userId, ip, ua, email });
      const key = store.cached(userId);
      expect(key?.kind).toBe('key');
      if (key?.kind !== 'key') return;
      const binding = { organizationId: org, entryId: row.id, field: 'ip' };
      expect(openPersonal(key.key, binding, row.ip!)).toBe(ip);

      // No reader, no sweep: the sealer heard the commit.
      await sealer.flush();
      expect(await rowsOf(nsp, 'audit_pending', org)).toHaveLength(0);
      const sealed = await rowsOf(nsp, 'audit_events', org);
      expect(sealed.map((r) => r.id)).toEqual([row.id]);
    });
  }

  it('erasing the user (destroying the key) leaves none of them readable', async () => {
    const rows = [
      ...(await rowsOf('public', 'audit_events', pooled)),
      ...(await rowsOf(tenantSchemaName(placed), 'audit_events', placed)),
      ...(await rowsOf('public', 'audit_events', moving)),
    ];
    expect(rows).toHaveLength(3);
    const before = await openPersonalFields(store, tenancy.control.db, rows);
    expect(before.map((o) => [o.ip, o.userAgent, o.erased])).toEqual(Array(3).fill([ip, ua, []]));
    await store.destroy({ kind: 'user', userId });
    await store.destroy({ kind: 'email', email });
    const after = await openPersonalFields(store, tenancy.control.db, rows);
    expect(after.map((o) => [o.ip, o.userAgent, o.erased])).toEqual(
      Array(3).fill([null, null, ['ip', 'user_agent', 'metadata.email']]),
    );
    // The later events of an erased user keep no personal field, wherever the organization is placed.
    await write(placed, 'thing.updated');
    const last = (await rowsOf(tenantSchemaName(placed), 'audit_pending', placed)).at(-1)!;
    expect([last.ip, last.user_agent]).toEqual([null, null]);
  });
});
