import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { runWithContext, type TenantCtx } from '../tenancy/context.js';
import { uuidv7 } from '../ids.js';
import type { createKeyVault } from '../tenant-keys/key-vault.js';
import { createTenantKeyShredder } from '../tenant-keys/shredder.js';
import type { UserKeyStore } from '../user-keys/user-keys.js';
import { openPersonal, sealedFor } from '../user-keys/personal-seal.js';
import { testJwtKey } from '../../modules/tokens/tokens.test-support.js';
import { createAuditService, type AuditService } from '../../modules/audit/audit.service.js';
import { createAuditSigner, createAuditVerifier } from './signing.js';
import { recordAudit } from './record.js';
import { usePersonalDataKeys } from './personal-fields.js';
import { insertUser, personalKeyStore, userCtx } from './personal-keys.test-support.js';
import { sealPending } from './seal.js';

describe('audit personal fields under per-person keys (real PostgreSQL)', () => {
  let tenancy: Tenancy;
  let owner: pg.Client;
  let store: UserKeyStore;
  let vault: ReturnType<typeof createKeyVault>;
  let audit: AuditService;
  let org: string;
  let userId: string;
  const ua = `pf-agent/${randomBytes(6).toString('hex')}`;
  const ip = '198.51.100.23';
  const email = `pf-${randomBytes(5).toString('hex')}@example.test`;

  const ctx = () => userCtx(org, userId, 'pf-request');
  /** One audited write as `userId` from `ip` with `ua` (the request context the recorder reads). */
  const write = (action: string, metadata?: Record<string, unknown>, invitee?: string) =>
    runWithContext({ requestId: 'pf-request', principal: ctx().actor, ip, userAgent: ua }, () =>
      tenancy.withTenant(org, (db) =>
        recordAudit(db, ctx(), {
          action,
          target: { type: 'thing', id: 't1' },
          metadata,
          personal: invitee ? { subject: { kind: 'email', email: invitee }, keys: ['email'] } : null,
        }),
      ),
    );

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    owner = await connect(testDb().adminUrl);
    // The suite's KEK: this vault is shared, and the KEK rotation tests of other files re-wrap its keys.
    ({ vault, store } = await personalKeyStore({ keyVaultUrl: testDb().keyVaultUrl }));
    usePersonalDataKeys(tenancy.control.db, store);
    const signer = createAuditSigner(await testJwtKey());
    audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
      userKeys: store,
    });
    org = await createTestOrg(tenancy, 'pf');
    userId = uuidv7();
    await insertUser(owner, userId, 'pf-user');
  });
  afterAll(async () => {
    await owner.end();
    await tenancy.close();
    await vault.close();
  });

  it('stores only sealed text, bound to its entry and field; readers open it; destroying the key erases it and the chain still verifies', async () => {
    await write('thing.created');
    await write('member.invited', { email, role: 'member' }, email);
    await audit.checkpoint(ctx()); // seals, and signs the head as it is now
    const rows = await owner.query<{
      id: string;
      ip: string;
      user_agent: string;
      metadata: { email: string };
    }>(`select id, ip, user_agent, metadata from audit_events where organization_id = $1 order by seq`, [
      org,
    ]);
    expect(rows.rows).toHaveLength(2);
    const [first, second] = rows.rows as [(typeof rows.rows)[0], (typeof rows.rows)[0]];
    for (const r of rows.rows) {
      expect(sealedFor(r.ip)).toBe(userId);
      expect(r.user_agent).toMatch(/^pd1\./);
      expect(JSON.stringify(r)).not.toContain(ua);
      expect(JSON.stringify(r)).not.toContain(ip);
    }
    expect(second.metadata.email).toMatch(/^pd1\./);
    expect(sealedFor(second.metadata.email)).not.toBe(userId); // the address's own key
    expect(JSON.stringify(second)).not.toContain(email);

    const page = await audit.list(ctx(), {});
    expect(page.data.map((e) => [e.ip, e.userAgent, e.erased])).toEqual([
      [ip, ua, []],
      [ip, ua, []],
    ]);
    expect(page.data[0]!.metadata).toMatchObject({ email });

    // A sealed value moved to another entry or field does not open.
    const key = store.cached(userId);
    expect(key?.kind).toBe('key');
    if (key?.kind !== 'key') return;
    const here = { organizationId: org, entryId: first.id, field: 'ip' };
    expect(openPersonal(key.key, here, first.ip)).toBe(ip);
    expect(openPersonal(key.key, { ...here, entryId: second.id }, first.ip)).toBeNull();
    expect(openPersonal(key.key, { ...here, field: 'user_agent' }, first.ip)).toBeNull();
    expect(openPersonal(key.key, { ...here, organizationId: uuidv7() }, first.ip)).toBeNull();

    // The keys are in the key vault, not in the application database (migration 0032).
    expect((await vault.persons.get([userId]))[0]?.wrapped).toBeInstanceOf(Buffer);
    const table = await owner.query(`select to_regclass('public.personal_keys')::text as t`);
    expect(table.rows[0]).toEqual({ t: null });

    await store.destroy({ kind: 'user', userId });
    await store.destroy({ kind: 'email', email });
    expect(await vault.persons.get([userId])).toEqual([{ subjectId: userId, wrapped: null, kekId: null }]);
    const after = await audit.list(ctx(), {});
    expect(after.data.map((e) => [e.ip, e.userAgent, e.erased])).toEqual([
      [null, null, ['ip', 'user_agent', 'metadata.email']],
      [null, null, ['ip', 'user_agent']],
    ]);
    expect(after.data[0]!.metadata).toMatchObject({ email: null, role: 'member' });
    const v = await audit.verify(ctx());
    expect(v).toMatchObject({ valid: true, entriesChecked: 2, checkpointsChecked: 1 });

    // An erased user's later events keep no personal field; the address gets a new key.
    await write('thing.updated', { email }, email);
    await sealPending(tenancy.withTenant, org);
    const last = (await audit.list(ctx(), {}, { limit: 1 })).data[0]!;
    expect(last).toMatchObject({ ip: null, userAgent: null, erased: [], metadata: { email } });
    const row = await owner.query<{ ip: string | null }>(
      `select ip from audit_events where organization_id = $1 order by seq desc limit 1`,
      [org],
    );
    expect(row.rows[0]!.ip).toBeNull();
    expect((await audit.verify(ctx())).valid).toBe(true);
  });

  it("an API key's requests: address and agent sealed under the organization's key, opened by readers, unreadable once the organization's keys are shredded", async () => {
    const keyOrg = await createTestOrg(tenancy, 'pf-key');
    const keyCtx: TenantCtx = {
      tenantId: keyOrg,
      actor: { kind: 'api_key', keyId: uuidv7(), organizationId: keyOrg },
      requestId: 'pf-key-request',
    };
    const keyUa = `pf-integration/${randomBytes(6).toString('hex')}`;
    await runWithContext(
      { requestId: 'pf-key-request', principal: keyCtx.actor, ip: '192.0.2.77', userAgent: keyUa },
      () =>
        tenancy.withTenant(keyOrg, (db) =>
          recordAudit(db, keyCtx, { action: 'thing.created', target: { type: 'thing', id: 'k1' } }),
        ),
    );
    await audit.checkpoint(keyCtx);
    const stored = await owner.query<{ ip: string; user_agent: string }>(
      `select ip, user_agent from audit_events where organization_id = $1`,
      [keyOrg],
    );
    expect(stored.rows).toHaveLength(1);
    expect(sealedFor(stored.rows[0]!.ip)).toBe(keyOrg); // the organization's key, no person's
    expect(JSON.stringify(stored.rows)).not.toContain(keyUa);
    expect(JSON.stringify(stored.rows)).not.toContain('192.0.2.77');
    const page = await audit.list(keyCtx, {});
    expect(page.data.map((e) => [e.ip, e.userAgent, e.erased])).toEqual([['192.0.2.77', keyUa, []]]);

    // Crypto-shredding the organization (what its deletion does) takes that key too.
    const shredder = createTenantKeyShredder({ vault, keysChanged: (org) => store.forget(org) });
    await shredder.destroyOrganizationKeys(keyOrg);
    const after = await audit.list(keyCtx, {});
    expect(after.data.map((e) => [e.ip, e.userAgent, e.erased])).toEqual([
      [null, null, ['ip', 'user_agent']],
    ]);
    expect(await audit.verify(keyCtx)).toMatchObject({ valid: true, entriesChecked: 1 });
  });

  it("an actor id that names no user (a test's made-up one) is written as before, unsealed", async () => {
    const other: TenantCtx = { tenantId: org, actor: { kind: 'user', userId: 'not-a-uuid' }, requestId: 'x' };
    await tenancy.withTenant(org, (db) =>
      recordAudit(db, other, { action: 'thing.touched', target: { type: 'thing' } }),
    );
    await sealPending(tenancy.withTenant, org);
    const n = await owner.query<{ n: string }>(
      `select count(*) as n from audit_events where organization_id = $1 and actor_id = 'not-a-uuid'`,
      [org],
    );
    expect(Number(n.rows[0]!.n)).toBe(1);
  });
});
