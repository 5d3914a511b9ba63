/**
 * Key rotation on the real database: a throwaway database with a tenant table registered as a sealed
 * column. A run stopped mid-way (as a crash would) resumes where the values say, and every value opens
 * before, during and after; retired versions are destroyed only when nothing needs them.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createTestOrg, testDb } from '../../../test/support/tenancy.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { createKeyVault } from './key-vault.js';
import { createLocalKms } from './kms-local.js';
import type { Kms } from './kms.js';
import { createTenantSealer } from './tenant-sealer.js';
import { createKeyRotation } from './rotation.js';
import { registerSealedColumn, unregisterSealedColumn } from './sealed-columns.js';

const KEK1 = randomBytes(32);
const KEK2 = randomBytes(32);
const ROWS = 230;

class Crash extends Error {}

describe('key rotation (resumable)', () => {
  let db: ProvisionedDatabase;
  let tenancy: Tenancy;
  let vault: ReturnType<typeof createKeyVault>;
  let orgA: string;
  let orgB: string;
  const ids: string[] = [];

  const binding = (rowId: string) => ({ table: 'rotated_things', column: 'secret', rowId });
  const rowsOf = (org: string) =>
    tenancy.withTenant(
      org,
      async (tdb) =>
        (
          await sql<{ id: string; secret: string | null }>`select id::text as id, secret from rotated_things
            where organization_id = ${org} order by id`.execute(tdb)
        ).rows,
      { mode: 'read' },
    );
  /** Opens every value of the organization with a fresh process's sealer; returns the versions seen. */
  const openAll = async (org: string, kms: Kms) => {
    const sealer = createTenantSealer({ vault, kms, cacheTtlMs: 0 });
    const versions = new Set<number>();
    for (const row of await rowsOf(org)) {
      const secret = row.secret;
      if (secret === null) continue;
      const text = await tenancy.withTenant(org, async (tdb) =>
        (await sealer.openForTenant(tdb, org, binding(row.id), secret)).toString(),
      );
      expect(text).toBe(`value of ${row.id}`);
      versions.add(sealer.versionOf(secret)!);
    }
    return [...versions].sort();
  };
  const rotation = (kms: Kms, extra: Partial<Parameters<typeof createKeyRotation>[0]> = {}) => {
    const sealer = createTenantSealer({ vault, kms, cacheTtlMs: 0 });
    return createKeyRotation({
      vault,
      kms,
      sealer,
      withTenant: tenancy.withTenant,
      keysChanged: (org) => sealer.forget(org),
      cacheTtlMs: 0,
      ...extra,
    });
  };

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_tkrot');
    const owner = new pg.Client({ connectionString: db.migrationUrl });
    await owner.connect();
    const runtime = owner.escapeIdentifier(db.roles.runtime);
    await owner.query(`create table rotated_things (
      organization_id uuid not null references organizations (id) on delete cascade,
      id uuid not null, secret text, primary key (organization_id, id))`);
    await owner.query('alter table rotated_things enable row level security');
    await owner.query('alter table rotated_things force row level security');
    await owner.query(`create policy tenant_isolation on rotated_things for all to ${runtime}
      using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant())`);
    await owner.query(`grant select, insert, update, delete on rotated_things to ${runtime}`);
    await owner.end();
    registerSealedColumn({ table: 'rotated_things', column: 'secret', idColumn: 'id' });

    tenancy = createTenancy({ url: db.url, poolSize: 3 });
    vault = createKeyVault({ url: db.keyVaultUrl });
    await vault.ensureSchema();
    orgA = await createTestOrg(tenancy, 'rot-a');
    orgB = await createTestOrg(tenancy, 'rot-b');
    const sealer = createTenantSealer({ vault, kms: createLocalKms(KEK1) });
    for (const [org, n] of [
      [orgA, ROWS],
      [orgB, 5],
    ] as const) {
      await tenancy.withTenant(org, async (tdb) => {
        for (let i = 0; i < n; i++) {
          const id = randomUUID();
          if (org === orgA) ids.push(id);
          const sealed = await sealer.sealForTenant(tdb, org, binding(id), `value of ${id}`);
          await sql`insert into rotated_things (organization_id, id, secret) values (${org}, ${id}, ${sealed})`.execute(
            tdb,
          );
        }
        // A null value is left alone.
        await sql`insert into rotated_things (organization_id, id, secret) values (${org}, ${randomUUID()}, null)`.execute(
          tdb,
        );
      });
    }
  }, 180_000);

  afterAll(async () => {
    unregisterSealedColumn('rotated_things', 'secret');
    await vault?.close();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it("rotates an organization's data key: new version active at once, re-encryption resumes after a crash", async () => {
    const kms = createLocalKms(KEK1);
    const { version } = await rotation(kms).rotateOrganizationKey(orgA);
    expect(version).toBe(2);
    // New values use version 2 at once; old values still open (version 1 retired, kept).
    const sealer = createTenantSealer({ vault, kms });
    const fresh = await tenancy.withTenant(orgA, (tdb) => sealer.sealForTenant(tdb, orgA, binding('x'), 'x'));
    expect(fresh.startsWith('t1.2.')).toBe(true);
    expect(await openAll(orgA, kms)).toEqual([1]);

    // The job dies after its first committed batch.
    let batches = 0;
    const crashing = rotation(kms, {
      afterBatch: () => {
        batches++;
        throw new Crash('killed mid-run');
      },
    });
    await expect(crashing.reencryptOrganization(orgA)).rejects.toBeInstanceOf(Crash);
    expect(batches).toBe(1);
    const midway = await rowsOf(orgA);
    const v2 = midway.filter((r) => r.secret?.startsWith('t1.2.')).length;
    expect(v2).toBe(100);
    // Mid-run, every value opens (both versions), and version 1 is still kept.
    expect(await openAll(orgA, kms)).toEqual([1, 2]);
    expect((await vault.versions(orgA)).map((v) => v.state)).toEqual(['retired', 'active']);

    // Resumed by a new process: finishes, destroys version 1.
    const result = await rotation(kms).reencryptOrganization(orgA);
    expect(result.reencrypted).toBe(ROWS - 100);
    expect(result.destroyedVersions).toEqual([1]);
    expect(await openAll(orgA, kms)).toEqual([2]);
    expect((await vault.versions(orgA)).map((v) => [v.state, v.wrapped === null])).toEqual([
      ['destroyed', true],
      ['active', false],
    ]);
    // The null value stayed null; the other organization was not touched.
    expect((await rowsOf(orgA)).filter((r) => r.secret === null)).toHaveLength(1);
    expect(await openAll(orgB, kms)).toEqual([1]);
    // Idempotent: nothing left to do.
    expect(await rotation(kms).reencryptOrganization(orgA)).toEqual({
      reencrypted: 0,
      unreadable: 0,
      destroyedVersions: [],
      pendingVersions: [],
    });
  }, 120_000);

  it('a re-encryption process killed (SIGKILL) mid-run loses at most its batch in flight; a new run finishes', async () => {
    const kms = createLocalKms(KEK1);
    const orgC = await createTestOrg(tenancy, 'rot-c');
    const sealer = createTenantSealer({ vault, kms });
    await tenancy.withTenant(orgC, async (tdb) => {
      for (let i = 0; i < 450; i++) {
        const id = randomUUID();
        const sealed = await sealer.sealForTenant(tdb, orgC, binding(id), `value of ${id}`);
        await sql`insert into rotated_things (organization_id, id, secret) values (${orgC}, ${id}, ${sealed})`.execute(
          tdb,
        );
      }
    });
    await rotation(kms).rotateOrganizationKey(orgC);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/rotation-child.ts'], {
      env: {
        ...process.env,
        ROT_DB_URL: db.url,
        ROT_VAULT_URL: db.keyVaultUrl,
        ROT_KEK: KEK1.toString('base64url'),
        ROT_ORG: orgC,
        ROT_TABLE: 'rotated_things',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('batch')) resolve();
        if (out.includes('finished')) reject(new Error('the child finished before it could be killed'));
      });
      child.on('exit', () => reject(new Error(`the child exited early: ${out}`)));
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const after = await rowsOf(orgC);
    const moved = after.filter((r) => r.secret?.startsWith('t1.2.')).length;
    // Only whole batches committed: the one in flight was rolled back with the dead connection.
    expect(moved % 100).toBe(0);
    expect(moved).toBeGreaterThanOrEqual(100);
    expect(moved).toBeLessThan(450);
    expect(await openAll(orgC, kms)).toEqual([1, 2]);
    // Resumed: every value re-encrypted, version 1 destroyed, every value opens.
    const result = await rotation(kms).reencryptOrganization(orgC);
    expect(result.reencrypted).toBe(450 - moved);
    expect(result.destroyedVersions).toEqual([1]);
    expect(await openAll(orgC, kms)).toEqual([2]);
  }, 120_000);

  it('keeps a retired version until the key cache TTL has passed since its retirement', async () => {
    const kms = createLocalKms(KEK1);
    let clock = Date.now();
    const r = rotation(kms, { cacheTtlMs: 60_000, now: () => clock });
    await r.rotateOrganizationKey(orgB);
    const early = await r.reencryptOrganization(orgB);
    expect(early.destroyedVersions).toEqual([]);
    expect(early.pendingVersions).toEqual([1]);
    expect(early.retryAt).toBeInstanceOf(Date);
    expect(await openAll(orgB, kms)).toEqual([2]);
    clock += 120_000;
    expect((await r.reencryptOrganization(orgB)).destroyedVersions).toEqual([1]);
  });

  it('a row held locked by another transaction postpones the run instead of spinning on it', async () => {
    const kms = createLocalKms(KEK1);
    const orgC = await createTestOrg(tenancy, 'rot-c');
    const sealer = createTenantSealer({ vault, kms });
    await tenancy.withTenant(orgC, async (tdb) => {
      for (let i = 0; i < 3; i++) {
        const id = randomUUID();
        const sealed = await sealer.sealForTenant(tdb, orgC, binding(id), `value of ${id}`);
        await sql`insert into rotated_things (organization_id, id, secret) values (${orgC}, ${id}, ${sealed})`.execute(
          tdb,
        );
      }
    });
    const r = rotation(kms);
    await r.rotateOrganizationKey(orgC);
    const holder = new pg.Client({ connectionString: db.adminUrl });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from rotated_things where organization_id = $1 limit 1 for update', [
        orgC,
      ]);
      let versionReads = 0;
      const counted = rotation(kms, {
        vault: {
          ...vault,
          versions: (id: string) => {
            versionReads++;
            return vault.versions(id);
          },
        },
      });
      const result = await Promise.race([
        counted.reencryptOrganization(orgC),
        new Promise<'spinning'>((resolve) => setTimeout(() => resolve('spinning'), 3000)),
      ]);
      expect(result).toMatchObject({ reencrypted: 2, destroyedVersions: [], pendingVersions: [1] });
      expect(result === 'spinning' ? undefined : result.retryAt).toBeInstanceOf(Date);
      expect(versionReads).toBe(1);
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    // Once the lock is gone, the next run finishes.
    expect(await r.reencryptOrganization(orgC)).toMatchObject({ reencrypted: 1, destroyedVersions: [1] });
    expect(await openAll(orgC, kms)).toEqual([2]);
  });

  it('a value that does not open is recorded, logged and skipped: the rotation finishes, and never retries it', async () => {
    const kms = createLocalKms(KEK1);
    const orgD = await createTestOrg(tenancy, 'rot-d');
    const sealer = createTenantSealer({ vault, kms });
    const rowIds: string[] = [];
    await tenancy.withTenant(orgD, async (tdb) => {
      for (let i = 0; i < 3; i++) {
        const id = randomUUID();
        rowIds.push(id);
        const sealed = await sealer.sealForTenant(tdb, orgD, binding(id), `value of ${id}`);
        await sql`insert into rotated_things (organization_id, id, secret) values (${orgD}, ${id}, ${sealed})`.execute(
          tdb,
        );
      }
    });
    // One value altered in place (its last ciphertext character changed): it no longer opens.
    const bad = rowIds[1]!;
    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    try {
      await admin.query(
        `update rotated_things set secret = left(secret, -1) || case when right(secret, 1) = 'A' then 'B' else 'A' end
          where id = $1`,
        [bad],
      );
    } finally {
      await admin.end();
    }
    const lines: { level: number; msg: string; row_id?: string; table?: string; column?: string }[] = [];
    const log = pino(
      { level: 'info' },
      { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[0]) },
    );
    const r = rotation(kms, { log });
    await r.rotateOrganizationKey(orgD);
    const first = await r.reencryptOrganization(orgD);
    expect(first).toMatchObject({
      reencrypted: 2,
      unreadable: 1,
      destroyedVersions: [1],
      pendingVersions: [],
    });
    const logged = lines.filter((l) => l.level === 50);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ table: 'rotated_things', column: 'secret', row_id: bad });
    expect(JSON.stringify(lines)).not.toContain('t1.1.'); // never the value
    const recorded = await r.unreadableValues(orgD);
    expect(recorded).toMatchObject({
      count: 1,
      values: [{ table: 'rotated_things', column: 'secret', rowId: bad, keyVersion: 1 }],
    });
    // The other organizations see none of it.
    expect((await r.unreadableValues(orgA)).count).toBe(0);

    // A later rotation skips it: no error, nothing retried, nothing logged again.
    await r.rotateOrganizationKey(orgD);
    const second = await r.reencryptOrganization(orgD);
    expect(second).toMatchObject({ reencrypted: 2, unreadable: 0, destroyedVersions: [2] });
    expect(lines.filter((l) => l.level === 50)).toHaveLength(1);
    expect((await r.unreadableValues(orgD)).count).toBe(1);

    // Once the row holds a new value, the record goes and the value is rotated like any other.
    await tenancy.withTenant(orgD, async (tdb) => {
      const now = createTenantSealer({ vault, kms, cacheTtlMs: 0 });
      const fresh = await now.sealForTenant(tdb, orgD, binding(bad), `value of ${bad}`);
      await sql`update rotated_things set secret = ${fresh} where id = ${bad}`.execute(tdb);
    });
    await r.rotateOrganizationKey(orgD);
    expect(await r.reencryptOrganization(orgD)).toMatchObject({ reencrypted: 3, unreadable: 0 });
    expect((await r.unreadableValues(orgD)).count).toBe(0);
    expect(await openAll(orgD, kms)).toEqual([4]);
  });

  it('re-wraps every data key under a new KEK, resumably, the old KEK opening until done', async () => {
    const old = createLocalKms(KEK1);
    const next = createLocalKms(KEK2, [KEK1]);
    const r = rotation(next);
    // One live key per organization of this file (each has rotated once: its version 2).
    const start = await r.kekProgress();
    expect(start).toMatchObject({ provider: 'local', done: 0 });
    expect(start.total).toBeGreaterThanOrEqual(2);
    // Stopped after one key.
    expect(await r.rewrapAll({ maxKeys: 1 })).toMatchObject({ rewrapped: 1, total: start.total, done: 1 });
    // Mid-rotation: the new configuration (with KEK_PREVIOUS) opens everything.
    expect(await openAll(orgA, next)).toEqual([2]);
    expect(await openAll(orgB, next)).toEqual([2]);
    // Resumed: done.
    expect(await rotation(next).rewrapAll()).toMatchObject({
      rewrapped: start.total - 1,
      total: start.total,
      done: start.total,
    });
    // The old KEK can go: the new one alone opens every value; the old one alone none.
    const only = createLocalKms(KEK2);
    expect(await openAll(orgA, only)).toEqual([2]);
    await expect(openAll(orgA, old)).rejects.toMatchObject({ code: 'KEK_UNKNOWN' });
  });
});
