/**
 * The key vault's shredding under concurrency, on the real vault database: a shred that overlaps a
 * rotation or an organization's first key must still leave no live key behind (crypto-shredding is
 * only a guarantee if it holds whatever else runs at that moment).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDb } from '../../../test/support/tenancy.js';
import { createKeyVault } from './key-vault.js';
import { bootstrapKeyVault, dropKeyVault, keyVaultNamesFor } from './key-vault-bootstrap.js';
import { createLocalKms } from './kms-local.js';
import { createKeyRotation } from './rotation.js';
import { createTenantSealer } from './tenant-sealer.js';

/** Resolves once a backend of this database is waiting on a lock (the shred blocked by `holder`). */
async function waitForLockWait(client: pg.Client): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await client.query<{ n: string }>(
      `select count(*) as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
    );
    if (Number(r.rows[0]!.n) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the shred never waited on the concurrent transaction');
}

describe('key vault: shredding races', () => {
  let vault: ReturnType<typeof createKeyVault>;
  let holder: pg.Client;
  let watcher: pg.Client;

  beforeAll(async () => {
    vault = createKeyVault({ url: testDb().keyVaultUrl });
    await vault.ensureSchema();
    holder = new pg.Client({ connectionString: testDb().keyVaultUrl });
    watcher = new pg.Client({ connectionString: testDb().keyVaultUrl });
    await holder.connect();
    await watcher.connect();
  });

  afterAll(async () => {
    await holder?.end();
    await watcher?.end();
    await vault?.close();
  });

  it('a rotation committing while the shred runs leaves no active key', async () => {
    const org = randomUUID();
    await vault.insertFirst(org, randomBytes(60), 'local:test');
    // A rotation in flight (what addVersion does), not yet committed when the shred starts.
    await holder.query('begin');
    await holder.query('select version from tenant_data_keys where organization_id = $1 for update', [org]);
    await holder.query(
      `update tenant_data_keys set state = 'retired', retired_at = now()
        where organization_id = $1 and state = 'active'`,
      [org],
    );
    await holder.query(
      `insert into tenant_data_keys (organization_id, version, state, wrapped_key, kek_id)
       values ($1, 2, 'active', $2, 'local:test')`,
      [org, randomBytes(60)],
    );
    const shred = vault.destroyAll(org);
    await waitForLockWait(watcher);
    await holder.query('commit');
    await shred;
    const versions = await vault.versions(org);
    expect(versions.map((v) => [v.version, v.state])).toEqual([
      [1, 'destroyed'],
      [2, 'destroyed'],
    ]);
    expect(versions.every((v) => v.wrapped === null)).toBe(true);
  });

  it("an organization's first key committing while the shred runs is destroyed too", async () => {
    const org = randomUUID();
    // A first seal in flight (what insertFirst does), not yet committed when the shred starts.
    await holder.query('begin');
    await holder.query(
      `insert into tenant_data_keys (organization_id, version, state, wrapped_key, kek_id)
       values ($1, 1, 'active', $2, 'local:test')`,
      [org, randomBytes(60)],
    );
    const shred = vault.destroyAll(org);
    await waitForLockWait(watcher);
    await holder.query('commit');
    await shred;
    const versions = await vault.versions(org);
    expect(versions.map((v) => [v.version, v.state])).toEqual([[1, 'destroyed']]);
    expect(versions[0]!.wrapped).toBeNull();
  });

  it('a shred before the first key leaves a tombstone that refuses one', async () => {
    const org = randomUUID();
    expect(await vault.destroyAll(org)).toBe(0);
    await vault.insertFirst(org, randomBytes(60), 'local:test');
    const versions = await vault.versions(org);
    expect(versions.map((v) => v.state)).toEqual(['destroyed']);
  });
});

describe('key vault: a KEK rotation past a key it cannot re-wrap', () => {
  // A vault of its own: re-wrapping touches every key of the vault, the shared one included.
  const names = keyVaultNamesFor(`sr_kv_${randomBytes(4).toString('hex')}`);
  let vault: ReturnType<typeof createKeyVault>;

  beforeAll(async () => {
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
    await dropKeyVault(testDb().superuserUrl, names);
  });

  it('re-wraps every other key, and reports the one it could not', async () => {
    const kek1 = randomBytes(32);
    const kek2 = randomBytes(32);
    const old = createLocalKms(kek1);
    // First in the job's order: wrapped by a KEK nobody holds any more (removed from KEK_PREVIOUS).
    const lost = '00000000-0000-4000-8000-000000000000';
    await vault.insertFirst(
      lost,
      (await createLocalKms(randomBytes(32)).generateDataKey()).wrapped,
      'local:gone',
    );
    const orgs = [randomUUID(), randomUUID(), randomUUID()];
    for (const org of orgs) {
      const k = await old.generateDataKey();
      await vault.insertFirst(org, k.wrapped, k.kekId);
    }
    const next = createLocalKms(kek2, [kek1]);
    const sealer = createTenantSealer({ vault, kms: next, cacheTtlMs: 0 });
    const rotation = createKeyRotation({
      vault,
      kms: next,
      sealer,
      withTenant: () => Promise.reject(new Error('a KEK re-wrap opens no tenant scope')),
      keysChanged: () => {},
      cacheTtlMs: 0,
    });
    expect(await rotation.rewrapAll()).toEqual({ rewrapped: 3, failed: 1, total: 4, done: 3 });
    // The new KEK alone opens every re-wrapped key.
    const alone = createLocalKms(kek2);
    for (const org of orgs) {
      const [key] = await vault.versions(org);
      expect(key!.kekId).toBe(next.currentKekId);
      expect((await alone.decrypt(key!.wrapped!, key!.kekId!)).length).toBe(32);
    }
    expect((await vault.versions(lost))[0]!.kekId).toBe('local:gone');
  });
});
