import { createHash, randomBytes } from 'node:crypto';
import { uuidv7 } from '../../src/platform/ids.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Response } from 'light-my-request';
import { createExportLinks } from '../../src/modules/gdpr/export-link.js';
import type { ExportManifest } from '../../src/modules/gdpr/archive.js';
import type { ExportView } from '../../src/modules/gdpr/export-view.js';
import { TEST_KEK } from '../support/job-key.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import { connect, testDb } from '../support/tenancy.js';
import { unzip } from '../support/unzip.js';
import {
  Browser,
  createOrg,
  createProject,
  inOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Polls an export until it leaves queued/running (the job worker of the app builds it). */
async function finished(
  who: Browser,
  url: string,
  headers: Record<string, string> = {},
): Promise<ExportView> {
  for (let i = 0; i < 120; i++) {
    const res = await who.get(url, headers);
    expect(res.statusCode, res.body).toBe(200);
    const view = res.json<ExportView>();
    if (view.status !== 'queued' && view.status !== 'running') return view;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`export ${url} did not finish`);
}

const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};
const tokenOf = (url: string) => new URL(url).searchParams.get('token')!;

/** The manifest of an archive, after checking every file's count, size and SHA-256 against the archive. */
function checkedManifest(res: Response): { manifest: ExportManifest; files: Map<string, Buffer> } {
  expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
  expect(res.headers['content-type']).toBe('application/zip');
  const files = unzip(res.rawPayload);
  const manifest = JSON.parse(files.get('manifest.json')!.toString('utf8')) as ExportManifest;
  for (const f of manifest.files) {
    const body = files.get(f.name)!;
    expect({ name: f.name, sha256: sha256(body), bytes: body.length }).toEqual({
      name: f.name,
      sha256: f.sha256,
      bytes: f.bytes,
    });
    expect(body.toString('utf8').split('\n').filter(Boolean)).toHaveLength(f.rows);
  }
  return { manifest, files };
}

describe('e2e: GDPR exports over HTTP', () => {
  let c: E2eApp;
  let owner: User;
  let other: User;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let orgLink: string;
  /** A database of its own: every app of a shared test database runs jobs from one queue, and an export
   *  job taken by another file's app (which may be stopping) left this file's export queued past its
   *  test's timeout in a full run. */
  let own: ProvisionedDatabase;

  beforeAll(async () => {
    own = await provisionDatabase(testDb().superuserUrl, 'sr_gdpr_export');
    c = await startApp({
      database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl },
    });
    owner = await signUp(c, 'gdpr-owner');
    other = await signUp(c, 'gdpr-other');
    a = await createOrg(owner.browser, 'gdpr-a');
    b = await createOrg(other.browser, 'gdpr-b');
    await createProject(owner.browser, a.id, 'A secret plans');
    await createProject(other.browser, b.id, 'B secret plans');
  });
  afterAll(async () => {
    await stopApp(c);
    if (own) await dropProvisioned(own);
  });

  it('an owner exports the organization: idempotent start, progress, a signed link, an archive that checks out', async () => {
    const headers = { ...inOrg(a.id), 'idempotency-key': 'gdpr-e2e-1' };
    const first = await owner.browser.post('/v1/organization/export', undefined, headers);
    expect(first.statusCode, first.body).toBe(202);
    const id = first.json<ExportView>().id;
    const again = await owner.browser.post('/v1/organization/export', undefined, headers);
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<ExportView>().id).toBe(id);

    const view = await finished(owner.browser, `/v1/organization/exports/${id}`, inOrg(a.id));
    expect(view).toMatchObject({ status: 'ready', error: null });
    expect(view.tablesDone).toBe(view.tablesTotal);
    expect(view.download?.url).toMatch(/\/v1\/exports\/download\?token=/);
    orgLink = view.download!.url;
    rememberSecret(tokenOf(orgLink)); // a link is a credential: never in a log line

    const list = await owner.browser.get('/v1/organization/exports?limit=10', inOrg(a.id));
    expect(list.json<{ data: ExportView[] }>().data.map((e) => e.id)).toEqual([id]);

    const res = await owner.browser.get(pathOf(orgLink));
    const { manifest, files } = checkedManifest(res);
    expect(manifest).toMatchObject({ kind: 'organization', organizationId: a.id });
    const all = [...files.values()].map((f) => f.toString('utf8')).join('\n');
    expect(all).toContain('A secret plans');
    expect(all).not.toContain('B secret plans');
    expect(all).not.toContain(b.id);
    expect(sha256(res.rawPayload)).toBe(view.sha256);
  });

  it('a link answers only its own user, unexpired and unforged; and only while they may export', async () => {
    // Another user following the link: as for an export that does not exist.
    const foreign = await other.browser.get(pathOf(orgLink));
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual({ error: { code: 'EXPORT_NOT_FOUND', message: 'export not found' } });
    // No session at all.
    expect((await new Browser(c).get(pathOf(orgLink))).statusCode).toBe(401);
    // A forged signature, and a link of the right shape signed with another key.
    const token = tokenOf(orgLink);
    const forged = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    for (const t of [
      forged,
      createExportLinks(Buffer.alloc(32, 9)).sign(claims(token), 600).token,
      'nonsense',
    ]) {
      const res = await owner.browser.get(`/v1/exports/download?token=${encodeURIComponent(t)}`);
      expect(res.statusCode).toBe(401);
      expect(res.json<{ error: { code: string } }>().error.code).toBe('EXPORT_LINK_INVALID');
    }
    // Expired.
    const past = createExportLinks(TEST_KEK, () => Date.now() - 3_600_000).sign(claims(token), 60).token;
    const expired = await owner.browser.get(`/v1/exports/download?token=${encodeURIComponent(past)}`);
    expect(expired.statusCode).toBe(401);
    expect(expired.json<{ error: { code: string } }>().error.code).toBe('EXPORT_LINK_EXPIRED');
    // A member of another organization cannot reach A's exports at all.
    expect((await other.browser.get('/v1/organization/exports', inOrg(a.id))).statusCode).toBe(404);
  });

  it('a user exports their own data across organizations, audited in the platform chain', async () => {
    // A passkey (with a challenge in flight) and a linked provider account of the user.
    const publicKey = randomBytes(77);
    const challenge = `challenge-${randomBytes(16).toString('hex')}`;
    const su = await connect(own.adminUrl);
    try {
      await su.query(
        `insert into passkey_credentials
           (id, user_id, credential_id, public_key, counter, transports, device_type, backed_up, name)
         values ($1, $2, $3, $4, 7, '{internal,hybrid}', 'multiDevice', true, 'Laptop')`,
        [uuidv7(), other.userId, `cred-${randomBytes(8).toString('hex')}`, publicKey],
      );
      await su.query(
        `insert into passkey_challenges (purpose, binding_hash, user_id, challenge, expires_at)
         values ('registration', $1, $2, $3, now() + interval '5 minutes')`,
        [randomBytes(32), other.userId, challenge],
      );
      await su.query(
        `insert into social_identities (id, user_id, provider, subject, email)
         values ($1, $2, 'github', $3, $4)`,
        [uuidv7(), other.userId, `gh-${other.userId}`, other.email],
      );
    } finally {
      await su.end();
    }
    const start = await other.browser.post('/v1/account/export');
    expect(start.statusCode, start.body).toBe(202);
    let id = start.json<ExportView>().id;
    const running = await other.browser.post('/v1/account/export');
    expect([202, 409]).toContain(running.statusCode); // 409 while it runs; a new one once it finished
    // Only the newest archive is kept: when a second one started, it is the one to follow.
    if (running.statusCode === 202) id = running.json<ExportView>().id;
    const view = await finished(other.browser, `/v1/account/exports/${id}`);
    expect(view.status).toBe('ready');
    rememberSecret(tokenOf(view.download!.url));
    const res = await other.browser.get(pathOf(view.download!.url));
    const { manifest, files } = checkedManifest(res);
    expect(manifest).toMatchObject({ kind: 'account', userId: other.userId });
    expect(manifest.files.map((f) => f.name)).toEqual([
      'profile.jsonl',
      'sessions.jsonl',
      'refresh_tokens.jsonl',
      'passkeys.jsonl',
      'social_identities.jsonl',
      'memberships.jsonl',
      'audit_events.jsonl',
    ]);
    const lines = (name: string) =>
      files
        .get(name)!
        .toString('utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines('passkeys.jsonl')).toEqual([
      expect.objectContaining({
        name: 'Laptop',
        public_key: publicKey.toString('base64url'),
        counter: '7',
        transports: ['internal', 'hybrid'],
        device_type: 'multiDevice',
        backed_up: true,
        last_used_at: null,
      }),
    ]);
    expect(lines('social_identities.jsonl')).toEqual([
      expect.objectContaining({ provider: 'github', subject: `gh-${other.userId}`, email: other.email }),
    ]);
    expect([...files.values()].map((f) => f.toString('utf8')).join('\n')).not.toContain(challenge);
    const profile = JSON.parse(files.get('profile.jsonl')!.toString('utf8')) as Record<string, unknown>;
    expect(profile).toMatchObject({ id: other.userId, email: other.email, has_password: true });
    expect(Object.keys(profile)).not.toContain('password_hash');
    const memberships = files
      .get('memberships.jsonl')!
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { organization_id: string; user_id: string });
    expect(memberships.map((m) => m.organization_id).sort()).toEqual([other.personalOrgId, b.id].sort());
    expect(new Set(memberships.map((m) => m.user_id))).toEqual(new Set([other.userId]));
    for (const line of files.get('audit_events.jsonl')!.toString('utf8').split('\n').filter(Boolean)) {
      expect(JSON.parse(line)).toMatchObject({ actor_type: 'user', actor_id: other.userId });
    }
    expect([...files.values()].map((f) => f.toString('utf8')).join('\n')).not.toContain(a.id);

    // The owner of A cannot follow it; the history is the user's own.
    expect((await owner.browser.get(pathOf(view.download!.url))).statusCode).toBe(404);
    expect((await owner.browser.get(`/v1/account/exports/${id}`)).statusCode).toBe(404);
    const mine = await other.browser.get('/v1/account/exports');
    expect(mine.json<{ data: ExportView[] }>().data.map((e) => e.id)).toContain(id);

    const admin = await connect(own.adminUrl);
    try {
      const events = await admin.query<{ action: string; actor_id: string }>(
        `select action, actor_id from platform_audit_events where target_type = 'account_export' and target_id = $1
         order by seq`,
        [id],
      );
      expect(events.rows).toEqual([
        { action: 'account.export_requested', actor_id: other.userId },
        { action: 'account.export_downloaded', actor_id: other.userId },
      ]);
    } finally {
      await admin.end();
    }

    // A newer export, once ready, expires this one: its archive is deleted and its link answers 404.
    const again = await other.browser.post('/v1/account/export');
    expect(again.statusCode, again.body).toBe(202);
    const newer = await finished(other.browser, `/v1/account/exports/${again.json<ExportView>().id}`);
    expect(newer.status).toBe('ready');
    const old = await other.browser.get(`/v1/account/exports/${id}`);
    expect(old.json<ExportView>()).toMatchObject({ status: 'expired', download: null });
    expect((await other.browser.get(pathOf(view.download!.url))).statusCode).toBe(404);
  });

  it('a link follows the organization lifecycle: suspended → 403 as its tenant routes; pending deletion still downloads', async () => {
    const c2 = await createOrg(owner.browser, 'gdpr-policy');
    const start = await owner.browser.post('/v1/organization/export', undefined, inOrg(c2.id));
    expect(start.statusCode, start.body).toBe(202);
    const view = await finished(
      owner.browser,
      `/v1/organization/exports/${start.json<ExportView>().id}`,
      inOrg(c2.id),
    );
    const link = view.download!.url;
    rememberSecret(tokenOf(link));
    expect((await owner.browser.get(pathOf(link))).statusCode).toBe(200);
    // Suspended by an administrator: every tenant route refuses, and so does the link minted before.
    await c.services.platform.setSuspended(owner.userId, c2.id, true);
    expect((await owner.browser.get('/v1/organization/exports', inOrg(c2.id))).statusCode).toBe(403);
    const suspended = await owner.browser.get(pathOf(link));
    expect(suspended.statusCode).toBe(403);
    expect(suspended.json<{ error: { code: string } }>().error.code).toBe('ORGANIZATION_SUSPENDED');
    await c.services.platform.setSuspended(owner.userId, c2.id, false);
    expect((await owner.browser.get(pathOf(link))).statusCode).toBe(200);
    // Pending deletion: read-only, and exporting is what the grace period is for.
    expect((await owner.browser.delete('/v1/organization', inOrg(c2.id))).statusCode).toBe(202);
    expect((await owner.browser.get(pathOf(link))).statusCode).toBe(200);
  });

  it('a multi-chunk archive streams chunk by chunk, byte-identical, with its length, audited once', async () => {
    // An archive of three stored chunks (1 MiB, 1 MiB, 0.5 MiB), written as the export job stores one.
    const chunks = [randomBytes(1_048_576), randomBytes(1_048_576), randomBytes(524_288)];
    const whole = Buffer.concat(chunks);
    const id = uuidv7();
    const admin = await connect(own.adminUrl);
    try {
      await admin.query(
        `insert into organization_exports (organization_id, id, requested_by, status, tables_total, tables_done,
           size_bytes, archive_sha256, finished_at, expires_at)
         values ($1, $2, $3, 'ready', 1, 1, $4, $5, now(), now() + interval '1 hour')`,
        [a.id, id, owner.userId, whole.length, sha256(whole)],
      );
      for (const [seq, data] of chunks.entries()) {
        await admin.query(
          `insert into organization_export_chunks (organization_id, export_id, seq, data) values ($1, $2, $3, $4)`,
          [a.id, id, seq, data],
        );
      }
    } finally {
      await admin.end();
    }
    const view = await finished(owner.browser, `/v1/organization/exports/${id}`, inOrg(a.id));
    rememberSecret(tokenOf(view.download!.url));
    const res = await owner.browser.get(pathOf(view.download!.url));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-length']).toBe(String(whole.length));
    expect(res.headers['cache-control']).toBe('private, no-store');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="organization-export-${id}.zip"`);
    expect(res.rawPayload.length).toBe(whole.length);
    expect(res.rawPayload.equals(whole)).toBe(true);
    const check = await connect(own.adminUrl);
    try {
      const audited = await check.query<{ n: number }>(
        `select count(*)::int as n from (
           select target_id from audit_pending where organization_id = $1 and action = 'organization.export_downloaded'
           union all
           select target_id from audit_events where organization_id = $1 and action = 'organization.export_downloaded'
         ) e where target_id = $2`,
        [a.id, id],
      );
      expect(audited.rows[0]!.n).toBe(1);
    } finally {
      await check.end();
    }
  });
});

/** The claims of a real link (to re-sign them with another key or clock). */
function claims(token: string) {
  const body = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as {
    k: 'org' | 'account';
    e: string;
    o: string | null;
    u: string;
  };
  return { kind: body.k, exportId: body.e, org: body.o, user: body.u };
}
