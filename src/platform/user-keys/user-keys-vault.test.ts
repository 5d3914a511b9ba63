/**
 * The per-person keys live in the key vault (migration 0032): the KEK rotation job re-wraps them with the
 * organizations' keys, and the keys an older version kept in the application database are moved there at
 * start, resumably, an erased user's tombstone winning.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMigrationDatabase, type MigrationDatabase } from '../../../test/support/migration-database.js';
import { testDb } from '../../../test/support/tenancy.js';
import { migrations } from '../../migrations/index.js';
import { createKeyVault } from '../tenant-keys/key-vault.js';
import { bootstrapKeyVault, dropKeyVault, keyVaultNamesFor } from '../tenant-keys/key-vault-bootstrap.js';
import { createLocalKms } from '../tenant-keys/kms-local.js';
import { createKeyRotation } from '../tenant-keys/rotation.js';
import { createTenantSealer } from '../tenant-keys/tenant-sealer.js';
import { createUserKeyStore } from './user-keys.js';
import { movePersonalKeysToVault } from './move-to-vault.js';
import { openPersonal, sealPersonal, type PersonalBinding } from './personal-seal.js';
import { kekDerivedSubjectSecret, loadSubjectSecrets } from './subject-secret.js';

describe('per-person keys in the key vault', () => {
  let m: MigrationDatabase;
  let names: ReturnType<typeof keyVaultNamesFor> | undefined;
  let vault: ReturnType<typeof createKeyVault>;
  let migrationUrl: string;
  let db: Kysely<unknown>;
  let admin: pg.Client;

  beforeAll(async () => {
    // A vault and a database of their own: re-wrapping touches every key of the vault.
    m = await openMigrationDatabase(testDb().superuserUrl, 'sr_pkv');
    migrationUrl = m.migrationUrl;
    db = m.db;
    admin = m.admin;
    names = keyVaultNamesFor(m.database);
    const url = await bootstrapKeyVault({
      superuserUrl: testDb().superuserUrl,
      names,
      password: randomBytes(16).toString('hex'),
    });
    vault = createKeyVault({ url });
    await vault.ensureSchema();
  });
  afterAll(async () => {
    await vault?.close();
    await m?.close();
    if (names) await dropKeyVault(testDb().superuserUrl, names);
  });

  it('moves the keys of the application database into the vault, then drops the table; resumable', async () => {
    await m.migrateToBefore('0032-personal-keys-to-vault');
    const kms = createLocalKms(randomBytes(32));
    const live = randomUUID();
    const erased = randomUUID();
    const email = randomUUID();
    const k1 = await kms.generateDataKey();
    const k2 = await kms.generateDataKey();
    await admin.query(
      `insert into personal_keys (subject_id, subject_kind, wrapped, kek_id, destroyed_at) values
        ($1, 'user', $2, $3, null), ($4, 'user', null, null, now()), ($5, 'email', $6, $3, null)`,
      [live, k1.wrapped, k1.kekId, erased, email, k2.wrapped],
    );
    // The vault already holds a live key for the erased user (a crash mid-way): the tombstone wins.
    await vault.persons.insertIfAbsent(erased, 'user', k1.wrapped, k1.kekId);
    await m.migrateTo('0032-personal-keys-to-vault');
    const table = async () =>
      (
        await admin.query<{ t: string | null }>(
          `select to_regclass('public.personal_keys_to_vault')::text as t`,
        )
      ).rows[0]!.t;
    expect(await table()).toBe('personal_keys_to_vault');
    // The runtime role has no privilege left on it.
    const grants = await admin.query(
      `select 1 from information_schema.role_table_grants
        where table_name = 'personal_keys_to_vault' and grantee = $1`,
      [m.roles.runtime],
    );
    expect(grants.rows).toEqual([]);

    expect(await movePersonalKeysToVault(migrationUrl, vault.persons)).toBe(3);
    expect(await table()).toBeNull();
    expect(await movePersonalKeysToVault(migrationUrl, vault.persons)).toBe(0);
    const rows = await vault.persons.get([live, erased, email]);
    const byId = new Map(rows.map((r) => [r.subjectId, r]));
    expect(byId.get(live)?.wrapped?.equals(k1.wrapped)).toBe(true);
    expect(byId.get(erased)).toEqual({ subjectId: erased, wrapped: null, kekId: null });
    expect(byId.get(email)?.wrapped?.equals(k2.wrapped)).toBe(true);
    // The keys still open.
    expect((await kms.decrypt(byId.get(live)!.wrapped!, k1.kekId)).equals(k1.plaintext)).toBe(true);
  });

  it('a new database keeps no personal_keys table at all', async () => {
    await m.migrateTo(migrations.at(-1)![0]);
    const r = await admin.query(`select to_regclass('public.personal_keys')::text as t`);
    expect(r.rows[0]).toEqual({ t: null });
  });

  it('the KEK rotation re-wraps the per-person keys too: the new KEK alone then opens them', async () => {
    const kek1 = randomBytes(32);
    const kek2 = randomBytes(32);
    const old = createLocalKms(kek1);
    const users = [randomUUID(), randomUUID()];
    const keys = new Map<string, Buffer>();
    for (const u of users) {
      const k = await old.generateDataKey();
      await vault.persons.insertIfAbsent(u, 'user', k.wrapped, k.kekId);
      keys.set(u, k.plaintext);
    }
    // Keys the test above moved are under a KEK no configuration holds: reported, never blocking.
    const next = createLocalKms(kek2, [kek1]);
    const rotation = createKeyRotation({
      vault,
      kms: next,
      sealer: createTenantSealer({ vault, kms: next, cacheTtlMs: 0 }),
      withTenant: () => Promise.reject(new Error('a KEK re-wrap opens no tenant scope')),
      keysChanged: () => {},
      cacheTtlMs: 0,
    });
    const res = await rotation.rewrapAll();
    expect(res).toMatchObject({ rewrapped: 2, failed: 2 });
    expect(res.done).toBe(2);
    // A store on the new KEK alone (KEK_PREVIOUS emptied) opens both.
    const store = createUserKeyStore({
      kms: createLocalKms(kek2),
      vault: vault.persons,
      subjectSecret: randomBytes(32),
    });
    const opened = await store.forOpening(users);
    for (const u of users) {
      const s = opened.get(u);
      expect(s?.kind === 'key' && s.key.equals(keys.get(u)!)).toBe(true);
    }
  });

  // After the KEK rotation test: this key is under a KEK of its own, which that test would count as failed.
  it("destroying a key tells the other instances: an erased address's old key leaves their caches at once", async () => {
    const kms = createLocalKms(randomBytes(32));
    const subjectSecret = randomBytes(32);
    // Two instances of the server; `destroyed` stands for the invalidation bus between them.
    const other = createUserKeyStore({ kms, vault: vault.persons, subjectSecret });
    const one = createUserKeyStore({
      kms,
      vault: vault.persons,
      subjectSecret,
      destroyed: (id) => other.forget(id),
    });
    const email = `erased-${randomUUID()}@example.test`;
    const sealed = await other.forSealing(db, { kind: 'email', email });
    expect(sealed?.state.kind).toBe('key');
    other.remember(sealed!.subjectId, sealed!.state);
    expect(other.cached(sealed!.subjectId)).toEqual(sealed!.state);
    await one.destroy({ kind: 'email', email });
    expect(other.cached(sealed!.subjectId)).toBeUndefined();
    const reopened = (await other.forOpening([sealed!.subjectId])).get(sealed!.subjectId);
    expect(reopened?.kind === 'key' && reopened.key.equals((sealed!.state as { key: Buffer }).key)).toBe(
      false,
    );
  });

  it('address key ids survive KEK rotations; erasing the address after one leaves nothing of theirs open', async () => {
    const [kek0, kek1, kek2] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const email = `p-${randomUUID()}@example.test`;
    const sealed: { id: string; binding: PersonalBinding; text: string }[] = [];
    const sealWith = async (store: ReturnType<typeof createUserKeyStore>, n: number) => {
      const got = await store.forSealing(db, { kind: 'email', email });
      if (got?.state.kind !== 'key') throw new Error('no key');
      const binding = { organizationId: null, entryId: randomUUID(), field: 'metadata.email' };
      sealed.push({
        id: got.subjectId,
        binding,
        text: sealPersonal(got.state.key, got.subjectId, binding, `v${n}`),
      });
    };
    // An older version: ids keyed by a secret derived from the KEK, under kek0, then under kek1 after a
    // rotation (two keys for one address, the bug).
    const old0 = createLocalKms(kek0);
    await sealWith(
      createUserKeyStore({ kms: old0, vault: vault.persons, subjectSecret: kekDerivedSubjectSecret(kek0) }),
      0,
    );
    const old1 = createLocalKms(kek1, [kek0]);
    await sealWith(
      createUserKeyStore({ kms: old1, vault: vault.persons, subjectSecret: kekDerivedSubjectSecret(kek1) }),
      1,
    );
    expect(sealed[0]!.id).not.toBe(sealed[1]!.id);
    // This version starts: the vault adopts kek1's derivation and records kek0's as legacy.
    const store = (kms: ReturnType<typeof createLocalKms>, kek: Buffer, previousKeks: Buffer[]) =>
      createUserKeyStore({
        kms,
        vault: vault.persons,
        ttlMs: 0,
        subjectSecret: () => loadSubjectSecrets({ vault: vault.persons, kms, kek, previousKeks }),
      });
    const s1 = store(old1, kek1, [kek0]);
    expect(await s1.subjectId({ kind: 'email', email })).toBe(sealed[1]!.id);
    // A KEK rotation: re-wrapped, the id stays.
    const kms2 = createLocalKms(kek2, [kek1, kek0]);
    await createKeyRotation({
      vault,
      kms: kms2,
      sealer: createTenantSealer({ vault, kms: kms2, cacheTtlMs: 0 }),
      withTenant: () => Promise.reject(new Error('a KEK re-wrap opens no tenant scope')),
      keysChanged: () => {},
      cacheTtlMs: 0,
    }).rewrapAll();
    // KEK_PREVIOUS emptied: only kek2 remains.
    const only2 = createLocalKms(kek2);
    const s2 = store(only2, kek2, []);
    expect(await s2.subjectId({ kind: 'email', email })).toBe(sealed[1]!.id);
    await sealWith(s2, 2);
    expect(sealed[2]!.id).toBe(sealed[1]!.id);
    const opens = async () => {
      const keys = await s2.forOpening(sealed.map((x) => x.id));
      return sealed.map((x) => {
        const k = keys.get(x.id);
        return k?.kind === 'key' ? openPersonal(k.key, x.binding, x.text) : null;
      });
    };
    expect(await opens()).toEqual(['v0', 'v1', 'v2']);
    // Erasing the address: nothing of theirs opens, under either id.
    await s2.destroy({ kind: 'email', email });
    expect(await opens()).toEqual([null, null, null]);
    // The secret is not rewritten by later starts.
    expect(await store(only2, kek2, []).subjectId({ kind: 'email', email })).toBe(sealed[1]!.id);
  });
});
