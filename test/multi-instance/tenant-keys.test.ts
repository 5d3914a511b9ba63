import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTwoInstances, closeInstances } from '../support/instances.js';
import { createTestOrg } from '../support/tenancy.js';
import type { Composition } from '../../src/app/compose.js';

/**
 * Two instances on one database, one key vault and one Redis: a shred, a rotation or an erased address's
 * key made on A reaches B's key cache at once, although B holds the unwrapped key for a while otherwise.
 */
describe('tenant keys across instances', () => {
  let a: Composition;
  let b: Composition;
  beforeAll(async () => {
    [a, b] = await buildTwoInstances();
  });
  afterAll(async () => {
    await closeInstances(a, b);
  });

  const binding = { table: 'multi', column: 'secret', rowId: '1' };
  const openOn = (c: Composition, org: string, sealed: string) =>
    c.tenancy.withTenant(org, async (db) =>
      (await c.services.tenantSealer.openForTenant(db, org, binding, sealed)).toString(),
    );
  const sealOn = (c: Composition, org: string, text: string) =>
    c.tenancy.withTenant(org, (db) => c.services.tenantSealer.sealForTenant(db, org, binding, text));

  it('a shred on A makes the value unreadable on B at once', async () => {
    const org = await createTestOrg(a.tenancy, 'keys-bus');
    const sealed = await sealOn(a, org, 'shared');
    expect(await openOn(b, org, sealed)).toBe('shared'); // B has the key cached now
    expect(b.services.tenantSealer.cachedKeys).toBeGreaterThan(0);
    await a.services.tenantKeyShredder.destroyOrganizationKeys(org);
    const deadline = Date.now() + 2000;
    let outcome = 'readable';
    while (Date.now() < deadline) {
      outcome = await openOn(b, org, sealed).then(
        () => 'readable',
        (err: { code?: string }) => err.code ?? 'error',
      );
      if (outcome !== 'readable') break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(outcome).toBe('SEALED_VALUE_UNREADABLE');
  });

  it('a rotation on A makes B seal with the new version at once', async () => {
    const org = await createTestOrg(a.tenancy, 'keys-rot');
    expect((await sealOn(b, org, 'x')).startsWith('t1.1.')).toBe(true); // B caches version 1 as active
    await a.services.keyRotation.rotateOrganizationKey(org);
    const deadline = Date.now() + 2000;
    let sealed = await sealOn(b, org, 'y');
    while (!sealed.startsWith('t1.2.') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      sealed = await sealOn(b, org, 'y');
    }
    expect(sealed.startsWith('t1.2.')).toBe(true);
  });

  it("an address's key replaced on A (an erasure) leaves B's cache at once", async () => {
    const email = `mi-erased-${Date.now()}@example.test`;
    // An address's key never touches the transaction it is given (only a user's does).
    const sealing = await b.services.userKeys.forSealing(undefined as never, { kind: 'email', email });
    expect(sealing?.state.kind).toBe('key');
    b.services.userKeys.remember(sealing!.subjectId, sealing!.state);
    await a.services.userKeys.destroy({ kind: 'email', email });
    const deadline = Date.now() + 2000;
    while (b.services.userKeys.cached(sealing!.subjectId) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(b.services.userKeys.cached(sealing!.subjectId)).toBeUndefined();
  });
});
