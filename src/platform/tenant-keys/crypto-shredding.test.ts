/**
 * Crypto-shredding holds for backups of the application database (issue 12, docs/encryption.md).
 *
 * Two kinds of backup taken BEFORE the shred are restored AFTER it and still cannot be decrypted:
 * - a file-level copy of the whole application database (`CREATE DATABASE … TEMPLATE`, every page of it,
 *   old row versions included): always;
 * - a `pg_dump` restored into a fresh database with `psql`: when a pg_dump at least as new as the server
 *   is installed (pg_dump refuses newer servers; the embedded PostgreSQL package ships none).
 * A sanity restore before the shred opens the same values, so the test would see a broken promise.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createSealedThingsTable } from '../../../test/support/sealed-things.js';
import { createTestOrg, testDb } from '../../../test/support/tenancy.js';
import { withCredentials, withDatabase } from '../db/bootstrap.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { createKeyVault } from './key-vault.js';
import { createLocalKms } from './kms-local.js';
import { createTenantSealer } from './tenant-sealer.js';
import { createTenantKeyShredder } from './shredder.js';
import { TenantKeyError } from './errors.js';

const KEK = randomBytes(32);
const binding = (rowId: string) => ({ table: 'sealed_things', column: 'secret', rowId });

/** A pg_dump/psql pair whose major version is at least the server's, if one is installed. */
function compatibleClient(serverMajor: number): { pgDump: string; psql: string } | undefined {
  const dirs = ['/usr/bin', '/usr/local/bin'];
  if (existsSync('/usr/lib/postgresql')) {
    for (const v of readdirSync('/usr/lib/postgresql')) dirs.push(`/usr/lib/postgresql/${v}/bin`);
  }
  for (const dir of dirs) {
    const pgDump = path.join(dir, 'pg_dump');
    const psql = path.join(dir, 'psql');
    if (!existsSync(pgDump) || !existsSync(psql)) continue;
    try {
      const out = execFileSync(pgDump, ['--version'], { encoding: 'utf8' });
      const major = Number(/(\d+)(?:\.\d+)?/.exec(out)?.[1]);
      if (major >= serverMajor) return { pgDump, psql };
    } catch {
      // not usable
    }
  }
  return undefined;
}

describe('crypto-shredding, backups of the application database included', () => {
  let db: ProvisionedDatabase;
  let admin: pg.Client;
  let tenancy: Tenancy;
  const vaults: ReturnType<typeof createKeyVault>[] = [];
  const copies: string[] = [];
  const work = mkdtempSync(path.join(tmpdir(), 'saasready-shred-'));
  let orgA: string;
  let orgB: string;

  const openVault = async () => {
    const v = createKeyVault({ url: db.keyVaultUrl });
    await v.ensureSchema();
    vaults.push(v);
    return v;
  };
  /** A fresh process's view: same KEK, same vault, a given application database. */
  const sealerOn = async () => createTenantSealer({ vault: await openVault(), kms: createLocalKms(KEK) });

  const readSecret = (t: Tenancy, org: string, id: string) =>
    t.withTenant(
      org,
      async (tdb) => {
        const r = await sql<{ secret: string }>`
          select secret from sealed_things where organization_id = ${org} and id = ${id}`.execute(tdb);
        return r.rows[0]!.secret;
      },
      { mode: 'read' },
    );

  const openIn = async (t: Tenancy, org: string, id: string): Promise<string> => {
    const sealer = await sealerOn();
    const sealed = await readSecret(t, org, id);
    return t.withTenant(org, async (tdb) =>
      (await sealer.openForTenant(tdb, org, binding(id), sealed)).toString(),
    );
  };

  /** A tenancy (runtime role) on another database of the cluster. */
  const tenancyOn = async (database: string): Promise<Tenancy> => {
    await admin.query(
      `grant connect on database ${admin.escapeIdentifier(database)} to ${admin.escapeIdentifier(db.roles.runtime)}`,
    );
    const u = new URL(db.url);
    return createTenancy({
      url: withCredentials(db.url, decodeURIComponent(u.username), decodeURIComponent(u.password), database),
      poolSize: 2,
    });
  };

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_tkbak');
    admin = new pg.Client({ connectionString: db.superuserUrl });
    await admin.connect();
    // A tenant table registered nowhere else: values sealed for an organization's rows.
    await createSealedThingsTable(db);

    tenancy = createTenancy({ url: db.url, poolSize: 2 });
    orgA = await createTestOrg(tenancy, 'shred-a');
    orgB = await createTestOrg(tenancy, 'shred-b');
    const sealer = await sealerOn();
    for (const [org, text] of [
      [orgA, 'a-secret'],
      [orgB, 'b-secret'],
    ] as const) {
      await tenancy.withTenant(org, async (tdb) => {
        const sealed = await sealer.sealForTenant(tdb, org, binding('row-1'), text);
        await sql`insert into sealed_things (organization_id, id, secret)
          values (${org}, 'row-1', ${sealed})`.execute(tdb);
      });
    }
  });

  afterAll(async () => {
    await tenancy?.close();
    for (const v of vaults) await v.close();
    for (const c of copies)
      await admin.query(`drop database if exists ${admin.escapeIdentifier(c)} with (force)`);
    await admin?.end();
    if (db) await dropProvisioned(db);
    rmSync(work, { recursive: true, force: true });
  });

  it('a backup taken before the shred, restored after it, does not decrypt; live data neither', async () => {
    const major = Number(/^(\d+)/.exec(db.serverVersion)?.[1]);
    const client = compatibleClient(major);

    // Backups, before the shred. The file-level copy needs the source database without sessions.
    await tenancy.close();
    const fileCopy = `${db.database}_filecopy`;
    copies.push(fileCopy);
    await admin.query(
      `create database ${admin.escapeIdentifier(fileCopy)} template ${admin.escapeIdentifier(db.database)} strategy file_copy`,
    );
    let dumpFile: string | undefined;
    if (client) {
      dumpFile = path.join(work, 'app.sql');
      execFileSync(client.pgDump, ['--format=plain', `--file=${dumpFile}`, `--dbname=${db.adminUrl}`]);
    }
    tenancy = createTenancy({ url: db.url, poolSize: 2 });

    // Sanity, before the shred: the restored copy opens with the vault as it is now.
    const copy = await tenancyOn(fileCopy);
    try {
      expect(await openIn(copy, orgA, 'row-1')).toBe('a-secret');

      // The shred (what the organization deletion workflow calls).
      const vault = await openVault();
      const shredder = createTenantKeyShredder({ vault, keysChanged: () => {} });
      expect((await shredder.destroyOrganizationKeys(orgA)).destroyed).toBe(1);

      // Live data: unreadable.
      const live = openIn(tenancy, orgA, 'row-1');
      await expect(live).rejects.toBeInstanceOf(TenantKeyError);
      await expect(live).rejects.toMatchObject({ code: 'SEALED_VALUE_UNREADABLE' });
      // The backup restored after the shred: its ciphertext is there, its key is not.
      const restored = openIn(copy, orgA, 'row-1');
      await expect(restored).rejects.toMatchObject({ code: 'SEALED_VALUE_UNREADABLE' });
      // The restore itself is real: the other organization's value opens.
      expect(await openIn(copy, orgB, 'row-1')).toBe('b-secret');
    } finally {
      await copy.close();
    }

    if (client && dumpFile) {
      const fromDump = `${db.database}_fromdump`;
      copies.push(fromDump);
      await admin.query(
        `create database ${admin.escapeIdentifier(fromDump)} owner ${admin.escapeIdentifier(db.roles.owner)}`,
      );
      execFileSync(client.psql, [
        '--quiet',
        '-v',
        'ON_ERROR_STOP=1',
        `--dbname=${withDatabase(db.superuserUrl, fromDump)}`,
        `--file=${dumpFile}`,
      ]);
      // The dump holds the ciphertext, and no key of the vault.
      expect(readFileSync(dumpFile, 'utf8')).toContain('t1.1.');
      const restored = await tenancyOn(fromDump);
      try {
        await expect(openIn(restored, orgA, 'row-1')).rejects.toMatchObject({
          code: 'SEALED_VALUE_UNREADABLE',
        });
        expect(await openIn(restored, orgB, 'row-1')).toBe('b-secret');
      } finally {
        await restored.close();
      }
    } else {
      console.warn(
        `crypto-shredding.test: no pg_dump >= ${major} installed; the pg_dump round trip was not run (the file-level copy was)`,
      );
    }
  }, 120_000);
});
