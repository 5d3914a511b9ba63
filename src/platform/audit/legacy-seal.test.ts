import { createPublicKey, randomBytes, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, defaultTestSetter, testDb } from '../../../test/support/tenancy.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { createAuditService, type AuditService } from '../../modules/audit/audit.service.js';
import type { Database } from '../db/schema.js';
import { uuidv7 } from '../ids.js';
import { runWithContext, type Principal, type TenantCtx } from '../tenancy/context.js';
import { createTenancy, type Tenancy } from '../tenancy/tenancy.js';
import { createKeyVault } from '../tenant-keys/key-vault.js';
import { type UserKeyStore } from '../user-keys/user-keys.js';
import { canonicalJson } from './canonical-json.js';
import { endOwnerPool, legacySealFixture } from './legacy-seal.test-support.js';
import { LEGACY_SEALED_ACTION, sealLegacyChain, type LegacySealDeps } from './legacy-seal.js';
import { recordAudit } from './record.js';
import { sealPending } from './seal.js';
import { createAuditSigner } from './signing.js';
import { onCitus } from '../../../test/support/citus.js';
import { testPool } from '../../../test/support/pools.js';

// `audit seal-legacy` lifts the append-only guard triggers while it rewrites: an upgrade step run on plain
// PostgreSQL, before `citus distribute` (docs/citus.md), so not run on Citus. A database of its own: the
// rewrite, and the tampering below, lift guard triggers and forced row security of audit_events,
// audit_checkpoints and audit_chain_heads (DDL, ACCESS EXCLUSIVE until commit), which other files' audited
// writes and reads would queue behind (and deadlock with).
describe.skipIf(await onCitus())(
  'audit seal-legacy: entries written before per-person sealing (real PostgreSQL)',
  () => {
    let own: ProvisionedDatabase;
    let tenancy: Tenancy;
    let admin: pg.Client;
    let ownerPool: pg.Pool;
    let db: Kysely<Database>;
    let vault: ReturnType<typeof createKeyVault>;
    let store: UserKeyStore;
    let audit: AuditService;
    let deps: LegacySealDeps;
    let userId: string;
    let signerKey: ReturnType<typeof createAuditSigner>['publicKey'];
    const ip = `2001:db8:${randomBytes(2).toString('hex')}::${randomBytes(2).toString('hex')}`;
    const ua = `legacy-agent/${randomBytes(6).toString('hex')}`;
    const invitee = `legacy-${randomBytes(5).toString('hex')}@example.test`;

    const ctx = (org: string, actor: Principal): TenantCtx => ({
      tenantId: org,
      actor,
      requestId: 'lg-request',
    });
    /** One event as a pre-0028 deployment wrote it: no key store registered, the fields in clear. */
    const write = (org: string, actor: Principal, action: string, metadata?: Record<string, unknown>) =>
      runWithContext({ requestId: 'lg-request', principal: actor, ip, userAgent: ua }, () =>
        tenancy.withTenant(org, (d) =>
          recordAudit(d, ctx(org, actor), { action, target: { type: 'thing', id: 't1' }, metadata }),
        ),
      );

    beforeAll(async () => {
      own = await provisionDatabase(testDb().superuserUrl, 'sr_legacy_seal');
      tenancy = createTenancy({ url: own.url, poolSize: 4, setter: defaultTestSetter() });
      admin = await connect(own.adminUrl);
      ownerPool = testPool({ connectionString: own.migrationUrl, max: 2 });
      db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: ownerPool }) });
      const keys = await legacySealFixture({ keyVaultUrl: own.keyVaultUrl, pool: ownerPool, db });
      ({ vault, store, deps } = keys);
      signerKey = keys.signer.publicKey;
      audit = createAuditService({
        withTenant: tenancy.withTenant,
        signer: keys.signer,
        verifier: keys.verifier,
        userKeys: store,
      });
      userId = uuidv7();
      await admin.query('insert into users (id, email, email_normalized) values ($1, $2, $2)', [
        userId,
        `lg-user-${userId}@example.test`,
      ]);
    });
    afterAll(async () => {
      await admin?.end();
      await endOwnerPool(db, ownerPool);
      await tenancy?.close();
      await vault?.close();
      if (own) await dropProvisioned(own);
    });

    /** Rows of every audit table whose text holds `needle` (superuser: no row security). */
    const rowsHolding = async (needle: string) => {
      const tables = await admin.query<{ t: string }>(
        `select quote_ident(schemaname) || '.' || quote_ident(tablename) as t from pg_tables
        where tablename like '%audit%'`,
      );
      let n = 0;
      for (const { t } of tables.rows) {
        const r = await admin.query<{ n: string }>(
          `select count(*) as n from ${t} x where x::text like '%' || $1 || '%'`,
          [needle],
        );
        n += Number(r.rows[0]!.n);
      }
      return n;
    };

    it('seals the clear fields, rewrites the hashes and checkpoints, attests; verify stays valid; erasure then leaves nothing readable', async () => {
      const org = await createTestOrg(tenancy, 'lg');
      const user: Principal = { kind: 'user', userId };
      const apiKey: Principal = { kind: 'api_key', keyId: uuidv7(), organizationId: org };
      await write(org, { kind: 'system', name: 'test' }, 'thing.seeded');
      await write(org, user, 'thing.created');
      await write(org, user, 'member.invited', { email: invitee, role: 'member' });
      await write(org, apiKey, 'thing.updated');
      await audit.checkpoint(ctx(org, user)); // seals, and signs the head as it is now
      await write(org, user, 'thing.deleted');
      await sealPending(tenancy.withTenant, org);
      expect(await rowsHolding(ip)).toBeGreaterThanOrEqual(4);
      expect(await rowsHolding(invitee)).toBeGreaterThanOrEqual(1);
      const oldHead = (await audit.verify(ctx(org, user))).headHash;

      const res = await sealLegacyChain(deps, org);
      expect(res).toMatchObject({
        chain: org,
        status: 'rewritten',
        entriesRewritten: 4,
        checkpointsResigned: 1,
        oldHead,
      });
      const v = await audit.verify(ctx(org, user));
      expect(v).toMatchObject({
        valid: true,
        entriesChecked: 5,
        checkpointsChecked: 1,
        headHash: res.newHead,
      });
      // Sealed like new entries: readers open them.
      const page = await audit.list(ctx(org, user), {});
      const byAction = new Map(page.data.map((e) => [e.action, e]));
      expect(byAction.get('thing.created')).toMatchObject({ ip, userAgent: ua, erased: [] });
      expect(byAction.get('thing.updated')).toMatchObject({ ip, userAgent: ua, erased: [] });
      expect(byAction.get('member.invited')!.metadata).toMatchObject({ email: invitee });
      // A system actor's fields stay as new entries keep them (no person behind them).
      const stored = await admin.query<{ action: string; ip: string }>(
        'select action, ip from audit_events where organization_id = $1 order by seq',
        [org],
      );
      expect(stored.rows.filter((r) => r.ip === ip).map((r) => r.action)).toEqual(['thing.seeded']);
      // The attestation in the platform chain.
      const att = await admin.query<{ metadata: Record<string, unknown> }>(
        `select metadata from platform_audit_events where action = $1 and target_id = $2`,
        [LEGACY_SEALED_ACTION, org],
      );
      expect(att.rows).toHaveLength(1);
      expect(att.rows[0]!.metadata).toMatchObject({
        chain: org,
        old_head: oldHead,
        new_head: res.newHead,
        first_seq: 2,
        rewritten: 4,
      });
      // Its signature binds the old head to the new one: it verifies with the published checkpoint key over
      // the canonical JSON of the other fields, and not once the old head is swapped.
      const { sig, ...statement } = att.rows[0]!.metadata;
      const pub = createPublicKey({ key: signerKey.jwk as JsonWebKey, format: 'jwk' });
      const signed = (x: Record<string, unknown>) =>
        verifySignature(
          null,
          Buffer.from(canonicalJson(x), 'utf8'),
          pub,
          Buffer.from(sig as string, 'base64url'),
        );
      expect(signed(statement)).toBe(true);
      expect(signed({ ...statement, old_head: res.newHead })).toBe(false);
      // Idempotent: a second run does nothing.
      expect(await sealLegacyChain(deps, org)).toMatchObject({ status: 'nothing_to_do' });

      // Erasure: the user's key and the address's key go; the chain still verifies.
      await store.destroy({ kind: 'user', userId });
      await store.destroy({ kind: 'email', email: invitee });
      expect((await audit.verify(ctx(org, user))).valid).toBe(true);
      const after = new Map((await audit.list(ctx(org, user), {})).data.map((e) => [e.action, e]));
      expect(after.get('thing.created')).toMatchObject({ ip: null, userAgent: null });
      expect(after.get('member.invited')!.erased).toContain('metadata.email');
      // Only the system actor's entry still holds the address in any audit table; the invitee's, nowhere.
      expect(await rowsHolding(ip)).toBe(1);
      expect(await rowsHolding(ua)).toBe(1);
      expect(await rowsHolding(invitee)).toBe(0);
    });

    it('refuses a chain that does not verify, and leaves it untouched', async () => {
      const org = await createTestOrg(tenancy, 'lgbad');
      const user: Principal = { kind: 'user', userId: uuidv7() };
      await write(org, user, 'thing.created');
      await write(org, user, 'thing.updated');
      await sealPending(tenancy.withTenant, org);
      await admin.query('begin');
      await admin.query('alter table audit_events disable trigger audit_events_append_only');
      await admin.query(
        `update audit_events set target_id = 'tampered' where organization_id = $1 and seq = 1`,
        [org],
      );
      await admin.query('alter table audit_events enable trigger audit_events_append_only');
      await admin.query('commit');
      const res = await sealLegacyChain(deps, org);
      expect(res.status).toBe('invalid');
      expect(res.detail).toMatch(/seq 1/);
      const rows = await admin.query('select ip from audit_events where organization_id = $1', [org]);
      expect(rows.rows.map((r: { ip: string }) => r.ip)).toEqual([ip, ip]);
      const att = await admin.query(
        `select 1 from platform_audit_events where action = $1 and target_id = $2`,
        [LEGACY_SEALED_ACTION, org],
      );
      expect(att.rows).toHaveLength(0);
    });
    it('a failure mid-chain leaves triggers, forced row security and the chain as they were; no other session sees them lifted meanwhile', async () => {
      const org = await createTestOrg(tenancy, 'lgfail');
      const user: Principal = { kind: 'user', userId };
      await write(org, user, 'thing.created');
      await sealPending(tenancy.withTenant, org);
      const state = async () =>
        (
          await admin.query<{ name: string; forced: boolean; trigger: string | null }>(
            `select c.relname as name, c.relforcerowsecurity as forced,
                  (select t.tgenabled from pg_trigger t where t.tgrelid = c.oid and t.tgname like '%append_only') as trigger
             from pg_class c where c.relname in ('audit_events', 'audit_checkpoints', 'audit_chain_heads')
            order by c.relname`,
          )
        ).rows;
      const before = await state();
      expect(before.every((r) => r.forced)).toBe(true);
      const headBefore = await admin.query('select hash from audit_chain_heads where organization_id = $1', [
        org,
      ]);
      let reached!: () => void;
      const inside = new Promise<void>((r) => (reached = r));
      let fail!: () => void;
      const gate = new Promise<void>((r) => (fail = r));
      const failing: UserKeyStore = {
        ...store,
        forSealing: async () => {
          reached();
          await gate;
          throw new Error('KMS unreachable');
        },
      };
      const run = sealLegacyChain({ ...deps, userKeys: failing }, org);
      await inside;
      // Lifted inside the rewrite's transaction, still in force for every other session.
      expect(await state()).toEqual(before);
      fail();
      await expect(run).rejects.toThrow(/KMS unreachable/);
      expect(await state()).toEqual(before);
      const headAfter = await admin.query('select hash from audit_chain_heads where organization_id = $1', [
        org,
      ]);
      expect(headAfter.rows).toEqual(headBefore.rows);
      const rows = await admin.query('select ip from audit_events where organization_id = $1', [org]);
      expect(rows.rows.map((r: { ip: string }) => r.ip)).toEqual([ip]);
      // The pool's connections carry no open transaction afterwards: the next chain seals normally.
      expect((await sealLegacyChain(deps, org)).status).toBe('rewritten');
    });
    it('refuses to run as the runtime role', async () => {
      const org = await createTestOrg(tenancy, 'lgrt');
      await write(org, { kind: 'user', userId }, 'thing.created');
      await sealPending(tenancy.withTenant, org);
      const runtime = testPool({ connectionString: own.url, max: 1 });
      try {
        await expect(sealLegacyChain({ ...deps, pool: runtime }, org)).rejects.toThrow(
          /owner \(migration\) role/,
        );
      } finally {
        await runtime.end();
      }
      const rows = await admin.query('select ip from audit_events where organization_id = $1', [org]);
      expect(rows.rows.map((r: { ip: string }) => r.ip)).toEqual([ip]);
    });
    it('refuses a chain with a checkpoint signed by a key it does not know, rather than re-signing it with the current key', async () => {
      const org = await createTestOrg(tenancy, 'lgkid');
      const user: Principal = { kind: 'user', userId };
      await write(org, user, 'thing.created');
      await audit.checkpoint(ctx(org, user));
      // A checkpoint of a retired key whose public half this run was not given (AUDIT_RETIRED_KEYS): the only
      // evidence against a consistent rewrite of the entries it covers.
      await admin.query('begin');
      await admin.query('alter table audit_checkpoints disable trigger audit_checkpoints_append_only');
      await admin.query(
        `update audit_checkpoints set key_id = 'retired-unknown' where organization_id = $1`,
        [org],
      );
      await admin.query('alter table audit_checkpoints enable trigger audit_checkpoints_append_only');
      await admin.query('commit');
      const before = await admin.query(
        'select key_id, signature, head_hash from audit_checkpoints where organization_id = $1',
        [org],
      );

      const res = await sealLegacyChain(deps, org);
      expect(res.status).toBe('invalid');
      expect(res.detail).toMatch(/AUDIT_RETIRED_KEYS/);
      const after = await admin.query(
        'select key_id, signature, head_hash from audit_checkpoints where organization_id = $1',
        [org],
      );
      expect(after.rows).toEqual(before.rows);
      const rows = await admin.query('select ip from audit_events where organization_id = $1', [org]);
      expect(rows.rows.map((r: { ip: string }) => r.ip)).toEqual([ip]);
    });
  },
);
