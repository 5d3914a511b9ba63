/**
 * Per-organization encryption through the full composition (jobs running): the owner's key rotation
 * (route, audit, background re-encryption destroying the old version), the platform administrator's
 * rotation and KEK rotation progress (platform chain), and who may do what.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { auditEvents } from '../support/audit.js';
import { connect, testDb } from '../support/tenancy.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import {
  addNewMember,
  createOrg,
  inOrg,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';

interface Keys {
  versions: { version: number; state: string }[];
  reencryptionPending: boolean;
  unreadableValues: { count: number; values: Record<string, unknown>[] };
}
const NONE = { count: 0, values: [] };

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('e2e: per-organization encryption', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };

  /** A database of its own: every app of a shared test database runs jobs from one queue, and a run of
   *  this file's re-encryption taken by another file's app waits for THAT app's key cache (5 minutes)
   *  before destroying a retired version. */
  let own: ProvisionedDatabase;

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_tenant_keys');
    // Cache TTL 0: a retired version may be destroyed as soon as its values are re-encrypted.
    c = await startApp({
      database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl },
      tenantKeys: { keyCacheTtlMs: 0 },
    });
    owner = await signUp(c, 'keys-owner');
    org = await createOrg(owner.browser, 'keys');
  });
  afterAll(async () => {
    await stopApp(c);
    if (own) await dropProvisioned(own);
  });

  const keysOf = async (): Promise<Keys> => {
    const res = await owner.browser.get('/v1/organization/keys', inOrg(org.id));
    expect(res.statusCode, res.body).toBe(200);
    return res.json<Keys>();
  };

  it('says at start which KMS provider wraps the data keys', () => {
    expect(c.logs.some((l) => l.kms_provider === 'local' && typeof l.kek_id === 'string')).toBe(true);
  });

  it('an owner rotates the data key: new version at once, old one destroyed by the background job', async () => {
    expect(await keysOf()).toEqual({ versions: [], reencryptionPending: false, unreadableValues: NONE });
    // A value sealed for the organization (version 1).
    const sealer = c.services.tenantSealer;
    const b = { table: 'e2e', column: 'secret', rowId: 'one' };
    const sealed = await c.tenancy.withTenant(org.id, (db) => sealer.sealForTenant(db, org.id, b, 'kept'));
    expect(await keysOf()).toEqual({
      versions: [{ version: 1, state: 'active' }],
      reencryptionPending: false,
      unreadableValues: NONE,
    });

    const res = await owner.browser.post('/v1/organization/keys/rotate', undefined, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json<Keys>().versions).toContainEqual({ version: 2, state: 'active' });
    const fresh = await c.tenancy.withTenant(org.id, (db) => sealer.sealForTenant(db, org.id, b, 'new'));
    expect(fresh.startsWith('t1.2.')).toBe(true);

    const settled = await until(keysOf, (k) => !k.reencryptionPending);
    expect(settled).toEqual({
      versions: [
        { version: 1, state: 'destroyed' },
        { version: 2, state: 'active' },
      ],
      reencryptionPending: false,
      unreadableValues: NONE,
    });
    // This value was in no registered column: it was not re-encrypted and its key is gone.
    await expect(
      c.tenancy.withTenant(org.id, (db) => sealer.openForTenant(db, org.id, b, sealed)),
    ).rejects.toMatchObject({ code: 'SEALED_VALUE_UNREADABLE' });
    const events = await auditEvents(c.tenancy.withTenant, org.id, 'organization.data_key_rotated');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: { type: 'user', id: owner.userId },
      changes: { before: { active_version: 1 }, after: { active_version: 2 } },
      metadata: { via: 'owner' },
    });
  }, 60_000);

  it('an admin (no org:delete) may read the versions but not rotate', async () => {
    const admin = await addNewMember(owner.browser, org.id, 'admin', 'keys-admin');
    expect((await admin.browser.get('/v1/organization/keys', inOrg(org.id))).statusCode).toBe(200);
    const res = await admin.browser.post('/v1/organization/keys/rotate', undefined, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(403);
  }, 60_000);

  it('platform administrators rotate an organization key and follow the KEK rotation; nobody else', async () => {
    for (const url of ['/v1/platform/encryption/kek-rotation']) {
      expect((await owner.browser.get(url)).statusCode).toBe(403);
      expect((await owner.browser.post(url)).statusCode).toBe(403);
    }
    expect((await owner.browser.post(`/v1/platform/organizations/${org.id}/keys/rotate`)).statusCode).toBe(
      403,
    );

    const admin = await signUpPlatformAdmin(c, 'keys-platform', own.migrationUrl);
    const rotated = await admin.browser.post(`/v1/platform/organizations/${org.id}/keys/rotate`);
    expect(rotated.statusCode, rotated.body).toBe(202);
    expect(rotated.json<Keys>().versions).toContainEqual({ version: 3, state: 'active' });
    const events = await auditEvents(c.tenancy.withTenant, org.id, 'organization.data_key_rotated');
    expect(events.at(-1)).toMatchObject({ actor: { id: admin.userId }, metadata: { via: 'platform' } });
    const missing = await admin.browser.post(
      '/v1/platform/organizations/00000000-0000-4000-8000-000000000000/keys/rotate',
    );
    expect(missing.statusCode).toBe(404);

    const progress = await admin.browser.get('/v1/platform/encryption/kek-rotation');
    expect(progress.statusCode, progress.body).toBe(200);
    const p = progress.json<{ provider: string; currentKekId: string; total: number; done: number }>();
    expect(p.provider).toBe('local');
    expect(p.currentKekId).toMatch(/^local:[0-9a-f]{32}$/);
    expect(p.total).toBeGreaterThanOrEqual(1);
    const started = await admin.browser.post('/v1/platform/encryption/kek-rotation');
    expect(started.statusCode, started.body).toBe(202);
    const done = await until(
      async () =>
        (await admin.browser.get('/v1/platform/encryption/kek-rotation')).json<{
          total: number;
          done: number;
        }>(),
      (x) => x.done === x.total,
    );
    expect(done.done).toBe(done.total);
    const chain = await admin.browser.get('/v1/platform/audit-logs?action=platform.*&limit=200');
    expect(chain.statusCode, chain.body).toBe(200);
    expect(
      chain
        .json<{ data: { action: string; actor: { id: string } }[] }>()
        .data.some((e) => e.action === 'platform.kek_rotation_started' && e.actor.id === admin.userId),
    ).toBe(true);
  }, 90_000);

  it('a stored secret that does not open is skipped by the rotation and listed, not retried forever', async () => {
    // A webhook endpoint whose sealed secret was altered in the database (of the active version).
    const active = (await keysOf()).versions.find((v) => v.state === 'active')!.version;
    const endpoint = randomUUID();
    const admin = await connect(own.adminUrl);
    try {
      await admin.query(
        `insert into webhook_endpoints (organization_id, id, url, event_types, secret)
         values ($1, $2, 'https://hooks.example.test/in', '{member.added}', $3)`,
        [org.id, endpoint, `t1.${active}.AAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB.CCCC`],
      );
    } finally {
      await admin.end();
    }
    const res = await owner.browser.post('/v1/organization/keys/rotate', undefined, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(202);
    const settled = await until(keysOf, (k) => !k.reencryptionPending);
    expect(settled.versions).toContainEqual({ version: active, state: 'destroyed' });
    expect(settled.unreadableValues).toMatchObject({
      count: 1,
      values: [{ table: 'webhook_endpoints', column: 'secret', rowId: endpoint, keyVersion: active }],
    });
    expect(JSON.stringify(settled)).not.toContain('AAAAAAAAAAAAAAAA');
    expect(
      c.logs.some((l) => l.level === 50 && l.row_id === endpoint && l.table === 'webhook_endpoints'),
    ).toBe(true);
  }, 60_000);
});
