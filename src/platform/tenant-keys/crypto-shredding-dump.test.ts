/**
 * Crypto-shredding with a real `pg_dump` / `pg_restore` (issue 12, docs/encryption.md, docs/erasure.md).
 *
 * The embedded PostgreSQL 18 of the suite ships no pg_dump, and Debian's pg_dump 15 refuses an 18 server;
 * so this test runs on the machine's PostgreSQL at `PG15_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres, trust authentication, as in .ci/run) with the pg_dump and
 * pg_restore of the same major version, and is skipped, saying why, when there is none.
 *
 * A custom-format dump of the application database is taken before an organization's key is shredded
 * and before a user is erased (their per-person key destroyed); the dump is restored afterwards into a new
 * database, and neither the organization's sealed value (nor the address and agent of its API key's
 * audit event) nor the user's sealed audit fields open there, while another organization's value and
 * another user's fields do. A restore of the same dump before the
 * shred opens everything, so the test would see a broken promise.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { createTestOrg } from '../../../test/support/tenancy.js';
import { withCredentials, withDatabase } from '../db/bootstrap.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { runWithContext, type TenantCtx } from '../tenancy/context.js';
import { uuidv7 } from '../ids.js';
import { recordAudit } from '../audit/record.js';
import { sealPending } from '../audit/seal.js';
import { openPersonalFields, usePersonalDataKeys } from '../audit/personal-fields.js';
import { createUserKeyStore } from '../user-keys/user-keys.js';
import { createKeyVault } from './key-vault.js';
import { createLocalKms } from './kms-local.js';
import { createTenantSealer } from './tenant-sealer.js';
import { createTenantKeyShredder } from './shredder.js';

const PG15_URL = process.env.PG15_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const KEK = randomBytes(32);
const SUBJECT_SECRET = randomBytes(32);
const binding = (rowId: string) => ({ table: 'sealed_things', column: 'secret', rowId });

/** Why the test cannot run here, or undefined when a server and matching client tools answer. */
async function unavailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG15_URL, connectionTimeoutMillis: 2000 });
  let major: number;
  try {
    await c.connect();
    const r = await c.query<{ v: string }>('show server_version_num');
    major = Math.floor(Number(r.rows[0]!.v) / 10000);
  } catch (err) {
    return `no PostgreSQL answers at ${new URL(PG15_URL).host} (${(err as Error).message}); set PG15_URL`;
  } finally {
    await c.end().catch(() => {});
  }
  for (const tool of ['pg_dump', 'pg_restore']) {
    let out: string;
    try {
      out = execFileSync(tool, ['--version'], { encoding: 'utf8' });
    } catch {
      return `${tool} is not installed`;
    }
    const clientMajor = Number(/(\d+)(?:\.\d+)?/.exec(out)?.[1]);
    if (clientMajor < major) return `${tool} ${clientMajor} cannot dump a PostgreSQL ${major} server`;
  }
  return undefined;
}

const skip = await unavailable();
if (skip) console.warn(`crypto-shredding-dump.test skipped: ${skip}`);

describe.skipIf(skip !== undefined)(
  'crypto-shredding with pg_dump / pg_restore (PostgreSQL at PG15_URL)',
  () => {
    let db: ProvisionedDatabase;
    let admin: pg.Client;
    let tenancy: Tenancy;
    const vaults: ReturnType<typeof createKeyVault>[] = [];
    const copies: string[] = [];
    const work = mkdtempSync(path.join(tmpdir(), 'saasready-dump-'));
    let orgA: string;
    let orgB: string;
    const erased = uuidv7();
    const kept = uuidv7();

    const openVault = async () => {
      const v = createKeyVault({ url: db.keyVaultUrl });
      await v.ensureSchema();
      vaults.push(v);
      return v;
    };
    /** A fresh process's stores (same KEK, same vault, nothing cached). */
    const freshStores = async () => {
      const vault = await openVault();
      const kms = createLocalKms(KEK);
      return {
        vault,
        sealer: createTenantSealer({ vault, kms, cacheTtlMs: 0 }),
        userKeys: createUserKeyStore({ kms, vault: vault.persons, subjectSecret: SUBJECT_SECRET, ttlMs: 0 }),
      };
    };

    /** A tenancy (runtime role) on a restored database of the cluster. */
    const tenancyOn = async (database: string): Promise<Tenancy> => {
      await admin.query(
        `grant connect on database ${admin.escapeIdentifier(database)} to ${admin.escapeIdentifier(db.roles.runtime)}`,
      );
      const u = new URL(db.url);
      return createTenancy({
        url: withCredentials(
          db.url,
          decodeURIComponent(u.username),
          decodeURIComponent(u.password),
          database,
        ),
        poolSize: 2,
      });
    };

    /** What a restored database shows: each organization's secret (or the error code), each user's fields. */
    const readBack = async (database: string) => {
      const { sealer, userKeys } = await freshStores();
      const t = await tenancyOn(database);
      try {
        const secrets: Record<string, string> = {};
        for (const [name, org] of [
          ['a', orgA],
          ['b', orgB],
        ] as const) {
          secrets[name] = await t.withTenant(org, async (tdb) => {
            const r = await sql<{ secret: string }>`
            select secret from sealed_things where organization_id = ${org} and id = 'row-1'`.execute(tdb);
            return sealer.openForTenant(tdb, org, binding('row-1'), r.rows[0]!.secret).then(
              (b) => b.toString(),
              (err: { code?: string }) => err.code ?? 'error',
            );
          });
        }
        const c = new pg.Client({ connectionString: withDatabase(db.superuserUrl, database) });
        await c.connect();
        const rows = await c.query<{
          organization_id: string;
          id: string;
          actor_id: string;
          ip: string | null;
          user_agent: string | null;
          metadata: unknown;
        }>(
          `select organization_id, id, actor_id, ip, user_agent, metadata from audit_events
           where organization_id = any($1::uuid[]) and action = 'thing.created' order by seq`,
          [[orgA, orgB]],
        );
        const keysTable = await c.query<{ t: string | null }>(
          `select to_regclass('public.personal_keys')::text as t`,
        );
        await c.end();
        const opened = await openPersonalFields(userKeys, t.control.db, rows.rows);
        const who = (r: (typeof rows.rows)[0]) =>
          r.actor_id === erased ? 'erased' : r.actor_id === kept ? 'kept' : 'apiKeyOfA';
        const fields = Object.fromEntries(rows.rows.map((r, i) => [who(r), opened[i]!]));
        const sealedIp = rows.rows.find((r) => r.actor_id === erased)!.ip;
        return { secrets, fields, keysTable: keysTable.rows[0]!.t, sealedIp };
      } finally {
        await t.close();
      }
    };

    const restore = async (dumpFile: string, suffix: string) => {
      const name = `${db.database}_${suffix}`;
      copies.push(name);
      await admin.query(
        `create database ${admin.escapeIdentifier(name)} owner ${admin.escapeIdentifier(db.roles.owner)}`,
      );
      execFileSync('pg_restore', [
        '--exit-on-error',
        `--dbname=${withDatabase(db.superuserUrl, name)}`,
        dumpFile,
      ]);
      return name;
    };

    beforeAll(async () => {
      db = await provisionDatabase(PG15_URL, 'sr_dump');
      admin = new pg.Client({ connectionString: db.superuserUrl });
      await admin.connect();
      // A tenant table registered nowhere else: values sealed for an organization's rows.
      await createSealedThingsTable(db);
      const inDb = new pg.Client({ connectionString: db.adminUrl });
      await inDb.connect();
      for (const id of [erased, kept]) {
        await inDb.query('insert into users (id, email, email_normalized) values ($1, $2, $2)', [
          id,
          `dump-${id}@example.test`,
        ]);
      }
      await inDb.end();

      tenancy = createTenancy({ url: db.url, poolSize: 2 });
      orgA = await createTestOrg(tenancy, 'dump-a');
      orgB = await createTestOrg(tenancy, 'dump-b');
      const { sealer, userKeys } = await freshStores();
      usePersonalDataKeys(tenancy.control.db, userKeys);
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
      // One audited action of each user, from their address and agent (sealed under their own keys).
      for (const userId of [erased, kept]) {
        const ctx: TenantCtx = { tenantId: orgB, actor: { kind: 'user', userId }, requestId: 'dump' };
        await runWithContext(
          { requestId: 'dump', principal: ctx.actor, ip: '203.0.113.9', userAgent: `agent-${userId}` },
          () =>
            tenancy.withTenant(orgB, (tdb) =>
              recordAudit(tdb, ctx, { action: 'thing.created', target: { type: 'thing', id: userId } }),
            ),
        );
      }
      await sealPending(tenancy.withTenant, orgB);
      // And one of an API key of organization A (sealed under A's key of its API keys' fields).
      const keyCtx: TenantCtx = {
        tenantId: orgA,
        actor: { kind: 'api_key', keyId: uuidv7(), organizationId: orgA },
        requestId: 'dump',
      };
      await runWithContext(
        { requestId: 'dump', principal: keyCtx.actor, ip: '198.51.100.5', userAgent: 'integration/1' },
        () =>
          tenancy.withTenant(orgA, (tdb) =>
            recordAudit(tdb, keyCtx, { action: 'thing.created', target: { type: 'thing', id: 'k' } }),
          ),
      );
      await sealPending(tenancy.withTenant, orgA);
    }, 120_000);

    afterAll(async () => {
      await tenancy?.close();
      for (const v of vaults) await v.close();
      for (const c of copies) {
        await admin.query(`drop database if exists ${admin.escapeIdentifier(c)} with (force)`);
      }
      await admin?.end();
      if (db) await dropProvisioned(db);
      rmSync(work, { recursive: true, force: true });
    });

    it('a dump taken before the shred and the erasure, restored after them, opens neither', async () => {
      const dumpFile = path.join(work, 'app.dump');
      execFileSync('pg_dump', ['--format=custom', `--file=${dumpFile}`, `--dbname=${db.adminUrl}`]);

      // Sanity: restored before the shred, the dump opens everything (with the vault as it is now).
      const before = await readBack(await restore(dumpFile, 'before'));
      expect(before.secrets).toEqual({ a: 'a-secret', b: 'b-secret' });
      expect(before.sealedIp).toMatch(/^pd1\./);
      expect(before.fields.erased).toMatchObject({
        ip: '203.0.113.9',
        userAgent: `agent-${erased}`,
        erased: [],
      });
      expect(before.fields.apiKeyOfA).toMatchObject({ ip: '198.51.100.5', userAgent: 'integration/1' });
      expect(before.keysTable).toBeNull(); // no per-person key in the application database

      // The shred of organization A (what its deletion calls) and the erasure of one user's key.
      const { vault, userKeys } = await freshStores();
      const shredder = createTenantKeyShredder({ vault, keysChanged: () => {} });
      expect((await shredder.destroyOrganizationKeys(orgA)).destroyed).toBe(1);
      await userKeys.destroy({ kind: 'user', userId: erased });

      // The same dump restored after them: the ciphertexts are there, their keys are not.
      const after = await readBack(await restore(dumpFile, 'after'));
      expect(after.secrets).toEqual({ a: 'SEALED_VALUE_UNREADABLE', b: 'b-secret' });
      expect(after.fields.erased).toMatchObject({ ip: null, userAgent: null, erased: ['ip', 'user_agent'] });
      expect(after.fields.apiKeyOfA).toMatchObject({
        ip: null,
        userAgent: null,
        erased: ['ip', 'user_agent'],
      });
      expect(after.fields.kept).toMatchObject({ ip: '203.0.113.9', userAgent: `agent-${kept}`, erased: [] });
    }, 180_000);
  },
);
