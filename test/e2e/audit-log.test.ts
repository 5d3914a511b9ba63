import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  createOrg,
  createProject,
  inOrg,
  ORG_NOT_FOUND,
  ownDatabaseAround,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';
import { connect } from '../support/tenancy.js';
import type { ProvisionedDatabase } from '../support/provision.js';
import { runCli } from '../support/cli.js';
import { testAuditKey } from '../support/app.js';
import { parseExportLine } from '../../src/platform/audit/stored.js';
import { verifyChain } from '../../src/platform/audit/verify-chain.js';
import { createAuditVerifier } from '../../src/platform/audit/signing.js';

/**
 * A database of its own: the tampering below lifts the guard trigger and forced row security of
 * audit_events and platform_audit_events (DDL, ACCESS EXCLUSIVE until its commit, which other files'
 * audited requests queue behind), and a tampered platform chain is the whole database's: another file
 * verifying it meanwhile would find it broken.
 */
let auditDb: ProvisionedDatabase;
ownDatabaseAround('sr_audit_log', (db) => (auditDb = db));

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const key = await testAuditKey();
  return runCli(args, { AUDIT_SIGNING_KEY: JSON.stringify({ ...key.privateJwk, kid: key.kid }) }, auditDb);
}

interface EventBody {
  seq: number;
  action: string;
  actor: { type: string; id: string | null };
  target: { type: string; id: string | null };
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

describe('audit log over HTTP (real composition)', () => {
  let c: E2eApp;
  let owner: User;
  let stranger: User;
  let org: { id: string; slug: string };
  let tmp: string;

  beforeAll(async () => {
    c = await startApp({
      database: { url: auditDb.url, workerUrl: auditDb.workerUrl, keyVaultUrl: auditDb.keyVaultUrl },
    });
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'audit-e2e-'));
    owner = await signUp(c, 'audit-owner');
    stranger = await signUp(c, 'audit-stranger');
    org = await createOrg(owner.browser, 'audit');
    for (const name of ['alpha', 'beta', 'gamma']) await createProject(owner.browser, org.id, name);
  });
  afterAll(async () => {
    await stopApp(c);
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('lists events newest first with actor, target, IP, user agent and request id; filters; paginates', async () => {
    const res = await owner.browser.post(
      '/v1/projects',
      { name: 'delta' },
      {
        ...inOrg(org.id),
        'user-agent': 'audit-e2e/1.0',
        'x-request-id': 'audit-e2e-request-1',
      },
    );
    expect(res.statusCode, res.body).toBe(201);
    const list = await owner.browser.get('/v1/audit-logs?action=project.created&limit=2', inOrg(org.id));
    expect(list.statusCode, list.body).toBe(200);
    const page = list.json<{ data: EventBody[]; nextCursor: string | null }>();
    expect(page.data).toHaveLength(2);
    expect(page.data[0]).toMatchObject({
      action: 'project.created',
      actor: { type: 'user', id: owner.userId },
      target: { type: 'project', id: res.json<{ id: string }>().id },
      userAgent: 'audit-e2e/1.0',
      requestId: 'audit-e2e-request-1',
    });
    expect(page.data[0]!.ip).toBeTruthy();
    expect(page.data[0]!.seq).toBeGreaterThan(page.data[1]!.seq);
    const next = await owner.browser.get(
      `/v1/audit-logs?action=project.created&limit=2&cursor=${page.nextCursor}`,
      inOrg(org.id),
    );
    expect(next.json<{ data: EventBody[] }>().data).toHaveLength(2);
    const byActor = await owner.browser.get(
      `/v1/audit-logs?actor=${owner.userId}&action=project.*`,
      inOrg(org.id),
    );
    expect(byActor.json<{ data: EventBody[] }>().data).toHaveLength(4);
    for (const q of [
      'from=yesterday',
      'from=2016-12-31T23:59:60Z',
      'targetId=%00',
      'actor=a%00b',
      'cursor=eyJrIjoiLS0tIn0',
    ]) {
      const bad = await owner.browser.get(`/v1/audit-logs?${q}`, inOrg(org.id));
      expect({ q, status: bad.statusCode }).toEqual({ q, status: 400 });
    }
    const nul = await owner.browser.post('/v1/projects', { name: 'a\u0000b' }, inOrg(org.id));
    expect(nul.statusCode).toBe(400);
    expect(nul.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });

  it('is readable only with audit:read, and another tenant gets the 404 of a missing organization', async () => {
    const member = await addNewMember(owner.browser, org.id, 'member', 'audit-member');
    const forbidden = await member.browser.get('/v1/audit-logs', inOrg(org.id));
    expect(forbidden.statusCode).toBe(403);
    for (const url of [
      `/v1/orgs/${org.slug}/audit-logs`,
      `/v1/orgs/${org.slug}/audit-logs/export`,
      `/v1/orgs/${org.slug}/audit-logs/verify`,
      `/v1/orgs/${org.slug}/audit-logs/checkpoints`,
    ]) {
      const res = await stranger.browser.get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual(ORG_NOT_FOUND);
    }
    const post = await stranger.browser.post(`/v1/orgs/${org.slug}/audit-logs/checkpoints`);
    expect(post.statusCode).toBe(404);
    // The stranger's own log holds nothing of this organization's.
    const own = await stranger.browser.get('/v1/audit-logs', inOrg(stranger.personalOrgId));
    expect(JSON.stringify(own.json())).not.toContain(org.id);
  });

  it('exports JSON Lines and CSV that a third party verifies offline with the published key', async () => {
    const cp = await owner.browser.post('/v1/audit-logs/checkpoints', {}, inOrg(org.id));
    expect(cp.statusCode, cp.body).toBe(201);
    const again = await owner.browser.post('/v1/audit-logs/checkpoints', {}, inOrg(org.id));
    expect(again.statusCode).toBe(200);

    const jsonl = await owner.browser.get('/v1/audit-logs/export', inOrg(org.id));
    expect(jsonl.statusCode).toBe(200);
    expect(jsonl.headers['content-type']).toMatch(/^application\/jsonl/);
    const csv = await owner.browser.get('/v1/audit-logs/export?format=csv&action=project.*', inOrg(org.id));
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body.split('\r\n').filter(Boolean)).toHaveLength(5);

    const key = await c.app.inject({ method: 'GET', url: '/v1/audit-logs/public-key' });
    expect(key.statusCode).toBe(200);
    const publicKey = key.json<{ keyId: string; pem: string }>();
    const checkpoints = await owner.browser.get('/v1/audit-logs/checkpoints', inOrg(org.id));
    const cps = checkpoints.json<{ data: { statement: never; signature: string }[] }>().data;
    expect(cps).toHaveLength(1);

    const result = await verifyChain({
      entries: jsonl.body.trim().split('\n').map(parseExportLine),
      checkpoints: cps.map((x) => ({
        statement: x.statement,
        signature: Buffer.from(x.signature, 'base64url'),
      })),
      verifier: createAuditVerifier([publicKey]),
    });
    expect(result).toMatchObject({ valid: true, checkpointsChecked: 1 });
    const verified = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
    expect(verified.json()).toMatchObject({ valid: true, checkpointsChecked: 1, checkpointsUnverifiable: 0 });

    // The same from the command line, offline.
    await fs.writeFile(path.join(tmp, 'export.jsonl'), jsonl.body);
    await fs.writeFile(path.join(tmp, 'checkpoints.json'), checkpoints.body);
    await fs.writeFile(path.join(tmp, 'key.json'), key.body);
    const offline = await cli([
      'audit',
      'verify',
      '--file',
      path.join(tmp, 'export.jsonl'),
      '--checkpoints',
      path.join(tmp, 'checkpoints.json'),
      '--public-key',
      path.join(tmp, 'key.json'),
    ]);
    expect(offline.out).toMatch(/valid/);
    expect(offline.code, offline.out).toBe(0);
    // A forged line in the export is caught.
    const lines = jsonl.body.trim().split('\n');
    lines[1] = lines[1]!.replace('"action":"', '"action":"x');
    await fs.writeFile(path.join(tmp, 'forged.jsonl'), `${lines.join('\n')}\n`);
    const forged = await cli(['audit', 'verify', '--file', path.join(tmp, 'forged.jsonl')]);
    expect(forged.code, forged.out).toBe(2);
    expect(forged.out).toMatch(/BROKEN at seq 2 \(hash_mismatch\)/);
  }, 60_000);

  it('verify names the first broken seq after tampering, over HTTP and from `saasready audit verify --org`', async () => {
    const ok = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
    expect(ok.json()).toMatchObject({ valid: true, firstBrokenSeq: null });
    const cliOk = await cli(['audit', 'verify', '--org', org.slug]);
    expect(cliOk.code, cliOk.out).toBe(0);

    const admin = await connect(auditDb.migrationUrl);
    try {
      await admin.query('begin');
      await admin.query('alter table audit_events disable trigger audit_events_append_only');
      await admin.query('alter table audit_events no force row level security');
      await admin.query(
        `update audit_events set actor_id = 'someone-else' where organization_id = $1 and seq = 3`,
        [org.id],
      );
      await admin.query('alter table audit_events force row level security');
      await admin.query('alter table audit_events enable trigger audit_events_append_only');
      await admin.query('commit');
    } finally {
      await admin.end();
    }
    const broken = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
    expect(broken.json()).toMatchObject({ valid: false, firstBrokenSeq: 3, reason: 'hash_mismatch' });
    const cliBroken = await cli(['audit', 'verify', '--org', org.slug]);
    expect(cliBroken.code, cliBroken.out).toBe(2);
    expect(cliBroken.out).toMatch(/BROKEN at seq 3/);
    const unknown = await cli(['audit', 'verify', '--org', 'no-such-org-anywhere']);
    expect(unknown.code).toBe(1);
  }, 60_000);

  it('platform actions are chained too: platform admins list and verify them, nobody else', async () => {
    const admin = await signUpPlatformAdmin(c, 'audit-platform-admin', auditDb.migrationUrl);
    const key = `audit-e2e-${Date.now().toString(36)}.flag`;
    const created = await admin.browser.post('/v1/platform/flags', {
      key,
      kind: 'boolean',
      defaultValue: false,
    });
    expect(created.statusCode, created.body).toBe(201);
    const list = await admin.browser.get('/v1/platform/audit-logs?action=flag.*&limit=200');
    expect(list.statusCode, list.body).toBe(200);
    const event = list.json<{ data: EventBody[] }>().data.find((e) => e.target.id === key);
    expect(event).toMatchObject({ action: 'flag.created', actor: { type: 'user', id: admin.userId } });
    const firstVerify = await admin.browser.get('/v1/platform/audit-logs/verify');
    expect(firstVerify.json(), firstVerify.body).toMatchObject({ valid: true });
    // Verification while other platform actions are appended: one snapshot, so never a false alarm.
    for (let round = 0; round < 6; round++) {
      const [verified] = await Promise.all([
        admin.browser.get('/v1/platform/audit-logs/verify'),
        ...[0, 1, 2].map((i) =>
          admin.browser.post('/v1/platform/flags', {
            key: `${key}.r${round}-${i}`,
            kind: 'boolean',
            defaultValue: false,
          }),
        ),
      ]);
      expect(verified.json(), `round ${round}`).toMatchObject({ valid: true });
    }
    expect((await owner.browser.get('/v1/platform/audit-logs')).statusCode).toBe(403);
    expect((await owner.browser.get('/v1/platform/audit-logs/verify')).statusCode).toBe(403);

    // Tamper with that entry as the owner, see it named, put it back.
    const ownerDb = await connect(auditDb.migrationUrl);
    const tamper = async (actor: string) => {
      await ownerDb.query('begin');
      await ownerDb.query(
        'alter table platform_audit_events disable trigger platform_audit_events_append_only',
      );
      await ownerDb.query('update platform_audit_events set actor_id = $2 where seq = $1', [
        event!.seq,
        actor,
      ]);
      await ownerDb.query(
        'alter table platform_audit_events enable trigger platform_audit_events_append_only',
      );
      await ownerDb.query('commit');
    };
    try {
      await tamper('someone-else');
      const broken = await admin.browser.get('/v1/platform/audit-logs/verify');
      expect(broken.json()).toMatchObject({
        valid: false,
        firstBrokenSeq: event!.seq,
        reason: 'hash_mismatch',
      });
    } finally {
      await tamper(admin.userId);
      await ownerDb.end();
    }
    expect((await admin.browser.get('/v1/platform/audit-logs/verify')).json()).toMatchObject({ valid: true });
  });
});
