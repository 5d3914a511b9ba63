import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { createKeyVault } from './key-vault.js';
import { createLocalKms } from './kms-local.js';
import { createTenantSealer, type TenantSealerWithKeys } from './tenant-sealer.js';
import { createTenantKeyShredder } from './shredder.js';
import { TenantKeyError } from './errors.js';
import type { Kms } from './kms.js';
import type { SealBinding } from './contract.js';
import { TEST_KEK } from '../../../test/support/job-key.js';

// The suite's KEK: keys this file leaves in the shared vault stay openable by every test app.
const KEK = TEST_KEK;

/** A KMS that counts its unwraps (the cache's effect is visible). */
function countingKms(inner: Kms): Kms & { decrypts: number; generated: number } {
  const kms = {
    ...inner,
    decrypts: 0,
    generated: 0,
    async decrypt(wrapped: Buffer, kekId: string) {
      kms.decrypts++;
      return inner.decrypt(wrapped, kekId);
    },
    async generateDataKey() {
      kms.generated++;
      return inner.generateDataKey();
    },
  };
  return kms;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TenantKeyError);
    return (err as TenantKeyError).code;
  }
  return 'resolved';
}

describe('tenant sealer (real key vault, local KMS)', () => {
  let tenancy: Tenancy;
  let vault: ReturnType<typeof createKeyVault>;
  let orgA: string;
  let orgB: string;
  const bind = (rowId: string, column = 'secret', table = 'things'): SealBinding => ({
    table,
    column,
    rowId,
  });

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    vault = createKeyVault({ url: testDb().keyVaultUrl });
    await vault.ensureSchema();
    orgA = await createTestOrg(tenancy, 'tk-a');
    orgB = await createTestOrg(tenancy, 'tk-b');
  });
  afterAll(async () => {
    await vault.close();
    await tenancy.close();
  });

  const seal = (s: TenantSealerWithKeys, org: string, b: SealBinding, text: string) =>
    tenancy.withTenant(org, (db) => s.sealForTenant(db, org, b, text));
  const open = (s: TenantSealerWithKeys, org: string, b: SealBinding, sealed: string) =>
    tenancy.withTenant(org, (db) => s.openForTenant(db, org, b, sealed), { mode: 'read' });

  it('round-trips, with a fresh IV every time, and the format t1.<version>.<iv>.<tag>.<ct>', async () => {
    const sealer = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    const a = await seal(sealer, orgA, bind('r1'), 'whsec_hello');
    const b = await seal(sealer, orgA, bind('r1'), 'whsec_hello');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^t1\.1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('hello');
    expect((await open(sealer, orgA, bind('r1'), a)).toString()).toBe('whsec_hello');
    // Another process (same KEK, same vault) opens it: the key is in the vault, not in memory only.
    const other = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    expect((await open(other, orgA, bind('r1'), b)).toString()).toBe('whsec_hello');
  });

  it('fails for a ciphertext moved to another row, column, table or tenant, and for any tampering', async () => {
    const sealer = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    const sealed = await seal(sealer, orgA, bind('r1'), 'secret-value');
    expect(await codeOf(open(sealer, orgA, bind('r2'), sealed))).toBe('SEALED_VALUE_UNREADABLE');
    expect(await codeOf(open(sealer, orgA, bind('r1', 'other'), sealed))).toBe('SEALED_VALUE_UNREADABLE');
    expect(await codeOf(open(sealer, orgA, bind('r1', 'secret', 'others'), sealed))).toBe(
      'SEALED_VALUE_UNREADABLE',
    );
    // Copied into tenant B's row (same table/column/row id): B's key, B's AAD: fails.
    await seal(sealer, orgB, bind('r1'), 'b has a key too');
    expect(await codeOf(open(sealer, orgB, bind('r1'), sealed))).toBe('SEALED_VALUE_UNREADABLE');
    const parts = sealed.split('.');
    const flip = (s: string) => {
      const buf = Buffer.from(s, 'base64url');
      buf[0] = buf[0]! ^ 1;
      return buf.toString('base64url');
    };
    for (const i of [2, 3, 4]) {
      const bad = parts.map((p, j) => (j === i ? flip(p) : p)).join('.');
      expect(await codeOf(open(sealer, orgA, bind('r1'), bad))).toBe('SEALED_VALUE_UNREADABLE');
    }
    for (const bad of [
      '',
      'v1.x.y.z',
      `t1.2.${parts.slice(2).join('.')}`,
      `${sealed}.x`,
      `t1.01.${parts.slice(2).join('.')}`,
    ]) {
      expect(await codeOf(open(sealer, orgA, bind('r1'), bad))).toBe('SEALED_VALUE_UNREADABLE');
    }
  });

  it('errors name no key material, plaintext or ciphertext', async () => {
    const sealer = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    const sealed = await seal(sealer, orgA, bind('r9'), 'plaintext-marker');
    try {
      await open(sealer, orgA, bind('r8'), sealed);
      expect.unreachable();
    } catch (err) {
      const text = `${(err as Error).message} ${JSON.stringify(err)}`;
      expect(text).not.toContain('plaintext-marker');
      for (const part of sealed.split('.').slice(2)) expect(text).not.toContain(part);
      expect(text).not.toContain(KEK.toString('base64url'));
    }
  });

  it('refuses to seal or open outside the organization’s own scope', async () => {
    const sealer = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    const sealed = await seal(sealer, orgA, bind('r1'), 'x');
    expect(
      await codeOf(tenancy.withTenant(orgB, (db) => sealer.openForTenant(db, orgA, bind('r1'), sealed))),
    ).toBe('TENANT_SCOPE_MISMATCH');
    expect(
      await codeOf(tenancy.withTenant(orgB, (db) => sealer.sealForTenant(db, orgA, bind('r1'), 'x'))),
    ).toBe('TENANT_SCOPE_MISMATCH');
    expect(await codeOf(sealer.openForTenant(undefined as never, orgA, bind('r1'), sealed))).toBe(
      'TENANT_SCOPE_MISMATCH',
    );
  });

  it('concurrent first uses (several processes) agree on one key', async () => {
    const org = await createTestOrg(tenancy, 'tk-first');
    const sealers = Array.from({ length: 6 }, () => createTenantSealer({ vault, kms: createLocalKms(KEK) }));
    const sealed = await Promise.all(sealers.map((s, i) => seal(s, org, bind(`r${i}`), `v${i}`)));
    const versions = await vault.versions(org);
    expect(versions.map((v) => [v.version, v.state])).toEqual([[1, 'active']]);
    // Every value opens with every sealer: one key.
    for (const [i, s] of sealers.entries()) {
      for (const [j, value] of sealed.entries()) {
        expect((await open(s, org, bind(`r${j}`), value)).toString()).toBe(`v${j}`);
      }
      expect(i).toBeGreaterThanOrEqual(0);
    }
  });

  it('caches the unwrapped key for the TTL only, and forget() drops it', async () => {
    let clock = 1_000_000;
    const kms = countingKms(createLocalKms(KEK));
    const sealer = createTenantSealer({ vault, kms, cacheTtlMs: 60_000, now: () => clock });
    const org = await createTestOrg(tenancy, 'tk-ttl');
    const sealed = await seal(sealer, org, bind('r1'), 'cached');
    const after = kms.decrypts;
    await Promise.all([1, 2, 3].map(() => open(sealer, org, bind('r1'), sealed)));
    expect(kms.decrypts).toBe(after); // served from memory
    clock += 60_001;
    await open(sealer, org, bind('r1'), sealed);
    expect(kms.decrypts).toBe(after + 1); // expired: unwrapped again
    sealer.forget(org);
    expect(sealer.cachedKeys).toBe(0);
    await open(sealer, org, bind('r1'), sealed);
    expect(kms.decrypts).toBe(after + 2);
    // TTL 0: never kept.
    const uncached = createTenantSealer({ vault, kms, cacheTtlMs: 0 });
    await open(uncached, org, bind('r1'), sealed);
    expect(uncached.cachedKeys).toBe(0);
  });

  it('concurrent cache misses share one unwrap', async () => {
    const kms = countingKms(createLocalKms(KEK));
    const writer = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    const org = await createTestOrg(tenancy, 'tk-miss');
    const sealed = await seal(writer, org, bind('r1'), 'once');
    const reader = createTenantSealer({ vault, kms });
    await Promise.all(Array.from({ length: 8 }, () => open(reader, org, bind('r1'), sealed)));
    expect(kms.decrypts).toBe(1);
  });

  it('shredding makes every value unreadable at once, and nothing can be sealed for the organization again', async () => {
    const org = await createTestOrg(tenancy, 'tk-shred');
    const sealer = createTenantSealer({ vault, kms: createLocalKms(KEK) });
    const sealed = await seal(sealer, org, bind('r1'), 'gone');
    expect((await open(sealer, org, bind('r1'), sealed)).toString()).toBe('gone');
    const shredder = createTenantKeyShredder({ vault, keysChanged: (id) => sealer.forget(id) });
    expect(await shredder.destroyOrganizationKeys(org)).toEqual({ destroyed: 1 });
    expect(await codeOf(open(sealer, org, bind('r1'), sealed))).toBe('SEALED_VALUE_UNREADABLE');
    expect(await codeOf(seal(sealer, org, bind('r2'), 'new'))).toBe('ORGANIZATION_KEYS_DESTROYED');
    // Nor can a rotation give it a new key.
    const fresh = await createLocalKms(KEK).generateDataKey();
    expect(await codeOf(vault.addVersion(org, fresh.wrapped, fresh.kekId))).toBe(
      'ORGANIZATION_KEYS_DESTROYED',
    );
    // The vault keeps a tombstone only: no wrapped key left.
    expect((await vault.versions(org)).map((v) => [v.state, v.wrapped, v.kekId])).toEqual([
      ['destroyed', null, null],
    ]);
    // Idempotent; an organization that never sealed anything gets a tombstone too.
    expect(await shredder.destroyOrganizationKeys(org)).toEqual({ destroyed: 0 });
    const never = await createTestOrg(tenancy, 'tk-never');
    expect(await shredder.destroyOrganizationKeys(never)).toEqual({ destroyed: 0 });
    expect(await codeOf(seal(sealer, never, bind('r1'), 'x'))).toBe('ORGANIZATION_KEYS_DESTROYED');
    // Other organizations are untouched.
    const b = await seal(sealer, orgB, bind('z'), 'still here');
    expect((await open(sealer, orgB, bind('z'), b)).toString()).toBe('still here');
  });

  it('a KEK this process does not hold is named, not guessed', async () => {
    const org = await createTestOrg(tenancy, 'tk-kek');
    const sealed = await seal(createTenantSealer({ vault, kms: createLocalKms(KEK) }), org, bind('r'), 'x');
    const stranger = createTenantSealer({ vault, kms: createLocalKms(randomBytes(32)) });
    expect(await codeOf(open(stranger, org, bind('r'), sealed))).toBe('KEK_UNKNOWN');
  });

  it('a rotation heard while the active version was being read is not cached away', async () => {
    const org = await createTestOrg(tenancy, 'tk-race');
    const kms = createLocalKms(KEK);
    let release: (() => void) | undefined;
    let pause = false;
    // The vault, with its version list held back on demand (a slow read in flight).
    const slow: typeof vault = {
      ...vault,
      async versions(id) {
        const v = await vault.versions(id);
        if (pause) await new Promise<void>((resolve) => (release = resolve));
        return v;
      },
    };
    const sealer = createTenantSealer({ vault: slow, kms, cacheTtlMs: 60_000 });
    await seal(sealer, org, bind('r0'), 'first');
    sealer.forget(org);
    pause = true;
    const inFlight = seal(sealer, org, bind('r1'), 'read before the rotation');
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5));
    // The rotation commits and its invalidation arrives while that read is in flight.
    const next = await kms.generateDataKey();
    expect(await vault.addVersion(org, next.wrapped, next.kekId)).toBe(2);
    sealer.forget(org);
    pause = false;
    release();
    expect(sealer.versionOf(await inFlight)).toBe(1);
    // The next seal must not trust what that stale read cached.
    expect(sealer.versionOf(await seal(sealer, org, bind('r2'), 'after'))).toBe(2);
  });
});
