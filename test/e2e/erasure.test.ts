import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  createOrg,
  enrollTotp,
  inOrg,
  ORIGIN,
  rememberSecret,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  withoutSeatLimit,
  Browser,
  type E2eApp,
  type User,
} from './helpers.js';
import { connect, testDb } from '../support/tenancy.js';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import { parseExportLine } from '../../src/platform/audit/stored.js';
import { verifyChain } from '../../src/platform/audit/verify-chain.js';
import { uuidv7 } from '../../src/platform/ids.js';
import type { ExportView } from '../../src/modules/gdpr/export-view.js';
import { unzip } from '../support/unzip.js';

interface EventBody {
  action: string;
  actor: { type: string; id: string | null };
  ip: string | null;
  userAgent: string | null;
  metadata: Record<string, unknown> | null;
  erased: string[];
}

/** A request from `who`'s browser as if from `ip` with user agent `ua` (what the audit log records). */
async function from(
  who: Browser,
  ip: string,
  ua: string,
  method: 'POST' | 'DELETE',
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return who.c.app.inject({
    method,
    url,
    payload: body as object,
    remoteAddress: ip,
    headers: { origin: ORIGIN, 'user-agent': ua, ...(who.cookie ? { cookie: who.cookie } : {}), ...headers },
  });
}

const eraseSelf = (who: Browser, body: unknown) => who.req('DELETE', '/v1/account', body);

/** Every base table of every schema but the catalogs, as the superuser: where `needle` appears as text. */
async function tablesContaining(needles: string[]): Promise<string[]> {
  const su = await connect(testDb().adminUrl);
  try {
    const tables = await su.query<{ s: string; t: string }>(
      `select table_schema as s, table_name as t from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')`,
    );
    const hits: string[] = [];
    for (const { s, t } of tables.rows) {
      for (const needle of needles) {
        const res = await su.query<{ n: string }>(
          `select count(*) as n from "${s}"."${t}" x where strpos(x::text, $1) > 0`,
          [needle],
        );
        if (Number(res.rows[0]!.n) > 0) hits.push(`${s}.${t}: ${needle}`);
      }
    }
    return hits;
  } finally {
    await su.end();
  }
}

/**
 * The export archives stored in the database (the user's account exports and their organizations'
 * exports), unzipped, as the superuser: where `needle` appears in an entry. The table scan above never
 * sees them (zipped bytes). Other files' exports are left out: sealed or half-made ones share the database.
 */
async function archivesContaining(
  needles: string[],
  scope: { userId: string; orgIds: string[] },
): Promise<string[]> {
  const su = await connect(testDb().adminUrl);
  try {
    const { rows } = await su.query<{ kind: string; id: string; data: Buffer }>(
      `select 'account' as kind, export_id::text as id, string_agg(data, ''::bytea order by seq) as data
         from account_export_chunks
        where export_id in (select id from account_exports where user_id = $1)
        group by export_id
       union all
       select 'organization', export_id::text, string_agg(data, ''::bytea order by seq)
         from organization_export_chunks where organization_id = any ($2::uuid[]) group by export_id`,
      [scope.userId, scope.orgIds],
    );
    const hits: string[] = [];
    for (const row of rows) {
      for (const [name, content] of unzip(row.data)) {
        const text = content.toString('utf8');
        for (const needle of needles)
          if (text.includes(needle)) hits.push(`${row.kind} export ${name}: ${needle}`);
      }
    }
    return hits;
  } finally {
    await su.end();
  }
}

/** Requests an account export of `who` and waits until it is ready. */
async function exportAccount(who: Browser): Promise<void> {
  const start = await who.post('/v1/account/export');
  expect(start.statusCode, start.body).toBe(202);
  const id = start.json<ExportView>().id;
  for (let i = 0; ; i++) {
    const view = (await who.get(`/v1/account/exports/${id}`)).json<ExportView>();
    if (view.status === 'ready') return;
    expect(['queued', 'running']).toContain(view.status);
    if (i > 120) throw new Error('the account export did not finish');
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('erasure of a user (real composition)', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let erasee: { browser: Browser; email: string; password: string; userId: string };
  const ip = '203.0.113.77';
  const ua = `erasee-agent/${uuidv7().slice(-12)}`;
  const displayName = `Erasee ${uuidv7().slice(-10)}`;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'erasure-owner');
    org = await createOrg(owner.browser, 'erasure');
    await withoutSeatLimit(c, org.id);
    // Invited before having an account: the invitation events name the address.
    erasee = await addNewMember(owner.browser, org.id, 'admin', 'erasee');
    const named = await erasee.browser.patch('/v1/auth/me', { name: displayName });
    expect(named.statusCode, named.body).toBe(200);
  });
  afterAll(async () => {
    await stopApp(c);
  });

  it('seals the actor’s IP and user agent (and an invitee’s address) in the chain, and opens them to readers', async () => {
    const created = await from(
      erasee.browser,
      ip,
      ua,
      'POST',
      '/v1/projects',
      { name: 'mine' },
      inOrg(org.id),
    );
    expect(created.statusCode, created.body).toBe(201);
    const list = await owner.browser.get(`/v1/audit-logs?actor=${erasee.userId}`, inOrg(org.id));
    expect(list.statusCode, list.body).toBe(200);
    const mine = list.json<{ data: EventBody[] }>().data.find((e) => e.action === 'project.created');
    expect(mine).toMatchObject({ ip, userAgent: ua, erased: [] });
    const invited = await owner.browser.get('/v1/audit-logs?action=member.invited', inOrg(org.id));
    expect(invited.json<{ data: EventBody[] }>().data[0]!.metadata).toMatchObject({ email: erasee.email });
    // In the database only the sealed form: the hashed bytes never held them.
    const owners = await connect(testDb().adminUrl);
    try {
      const rows = await owners.query<{ ip: string; user_agent: string }>(
        `select ip, user_agent from audit_events where organization_id = $1 and actor_id = $2 and action = 'project.created'`,
        [org.id, erasee.userId],
      );
      expect(rows.rows[0]!.ip).toMatch(new RegExp(`^pd1\\.${erasee.userId}\\.`));
      expect(rows.rows[0]!.user_agent).toMatch(/^pd1\./);
    } finally {
      await owners.end();
    }
    // The export verifies offline and shows the opened values beside the hashed entry.
    const exported = await owner.browser.get('/v1/audit-logs/export?format=jsonl', inOrg(org.id));
    const lines = exported.body.trim().split('\n');
    expect((await verifyChain({ entries: lines.map(parseExportLine) })).valid).toBe(true);
    const line = lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.action === 'project.created');
    expect(line?.personal).toMatchObject({ ip, user_agent: ua, erased: [] });
  });

  it('asks for the password (and a second factor when it is on)', async () => {
    const wrong = await eraseSelf(erasee.browser, { password: 'not-the-password' });
    expect(wrong.statusCode, wrong.body).toBe(403);
    expect(wrong.json()).toMatchObject({ error: { code: 'AUTH_PASSWORD_INCORRECT' } });
    const missing = await eraseSelf(erasee.browser, {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    const anonymous = await c.app.inject({
      method: 'DELETE',
      url: '/v1/account',
      payload: { password: 'x' },
      headers: { origin: ORIGIN },
    });
    expect(anonymous.statusCode).toBe(401);

    const guarded = await signUp(c, 'erasure-2fa');
    const { secret } = await enrollTotp(guarded.browser);
    const noCode = await eraseSelf(guarded.browser, { password: guarded.password });
    expect(noCode.statusCode, noCode.body).toBe(400);
    expect(noCode.json()).toMatchObject({ error: { code: 'ACCOUNT_SECOND_FACTOR_REQUIRED' } });
    const badCode = await eraseSelf(guarded.browser, { password: guarded.password, code: '000000' });
    expect(badCode.statusCode, badCode.body).toBe(400);
    expect(badCode.json()).toMatchObject({ error: { code: 'TWO_FACTOR_CODE_INVALID' } });
    const ok = await eraseSelf(guarded.browser, {
      password: guarded.password,
      code: codeFor(secret, Date.now() + 30_000),
    });
    expect(ok.statusCode, ok.body).toBe(204);
  });

  it('refuses while the user is the last owner of an organization with other members, naming it', async () => {
    const shared = await createOrg(erasee.browser, 'erasee-shared');
    const other = await addNewMember(erasee.browser, shared.id, 'member', 'erasure-other');
    const refused = await eraseSelf(erasee.browser, { password: erasee.password });
    expect(refused.statusCode, refused.body).toBe(409);
    const body = refused.json<{
      error: { code: string; message: string; details: { organizations: { id: string }[] } };
    }>();
    expect(body.error.code).toBe('ACCOUNT_LAST_OWNER');
    expect(body.error.message).toMatch(/transfer ownership or delete it first/);
    expect(body.error.details.organizations.map((o) => o.id)).toEqual([shared.id]);
    // Nothing happened: still signed in, still a member.
    expect((await erasee.browser.get('/v1/auth/me')).statusCode).toBe(200);
    const transfer = await erasee.browser.post(
      '/v1/members/transfer-ownership',
      { userId: other.userId },
      inOrg(shared.id),
    );
    expect(transfer.statusCode, transfer.body).toBe(200);
  });

  it('erases: sessions and keys dead, memberships gone, chains verify, no personal data readable anywhere', async () => {
    const key = await erasee.browser.post(
      '/v1/api-keys',
      { name: 'erasee key', scopes: ['projects:read'] },
      inOrg(org.id),
    );
    expect(key.statusCode, key.body).toBe(201);
    const secret = rememberSecret(key.json<{ secret: string }>().secret);
    const alone = await createOrg(erasee.browser, 'erasee-alone');
    // A second session, from the same user agent.
    const other = { browser: new Browser(c) };
    const signedIn = await other.browser.req(
      'POST',
      '/v1/auth/login',
      { email: erasee.email, password: erasee.password },
      { 'user-agent': ua },
    );
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    const orgs = (await erasee.browser.get('/v1/organizations')).json<{ data: { id: string }[] }>().data;
    const orgIds = orgs.map((o) => o.id);

    // The scan finds them before: the account row, the sessions (address and agent).
    expect(await tablesContaining([erasee.email, displayName, ua])).toEqual(
      expect.arrayContaining([
        `public.users: ${erasee.email}`,
        `public.users: ${displayName}`,
        `public.sessions: ${ua}`,
      ]),
    );
    // Their own account export: the archive holds the profile (address, name) and the sessions' agents.
    await exportAccount(erasee.browser);
    expect(
      await archivesContaining([erasee.email, displayName, ua], { userId: erasee.userId, orgIds }),
    ).toEqual(expect.arrayContaining([`account export profile.jsonl: ${erasee.email}`]));
    const erased = await from(erasee.browser, ip, ua, 'DELETE', '/v1/account', { password: erasee.password });
    expect(erased.statusCode, erased.body).toBe(204);
    expect(String(erased.headers['set-cookie'])).toMatch(/sr_session=;/);

    for (const b of [erasee.browser, other.browser])
      expect((await b.get('/v1/auth/me')).statusCode).toBe(401);
    const withKey = await c.app.inject({
      method: 'GET',
      url: '/v1/projects',
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(withKey.statusCode).toBe(401);
    const login = await c.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { email: erasee.email, password: erasee.password },
      headers: { origin: ORIGIN },
    });
    expect(login.statusCode).toBe(401);

    // The owner still sees the events, with the personal fields erased.
    const list = await owner.browser.get(`/v1/audit-logs?actor=${erasee.userId}`, inOrg(org.id));
    const mine = list.json<{ data: EventBody[] }>().data.find((e) => e.action === 'project.created');
    expect(mine).toMatchObject({ ip: null, userAgent: null, erased: ['ip', 'user_agent'] });
    const invited = await owner.browser.get('/v1/audit-logs?action=member.invited', inOrg(org.id));
    const inv = invited.json<{ data: EventBody[] }>().data[0]!;
    expect(inv.metadata?.email).toBeNull();
    expect(inv.erased).toEqual(['metadata.email']);
    const removed = await owner.browser.get('/v1/audit-logs?action=member.removed', inOrg(org.id));
    expect(removed.json<{ data: EventBody[] }>().data[0]).toMatchObject({
      actor: { type: 'system', id: 'account-erasure' },
      ip: null,
      userAgent: null,
    });
    expect((await owner.browser.get('/v1/members', inOrg(org.id))).body).not.toContain(erasee.userId);

    // Every chain of their organizations verifies, checkpoints included.
    for (const id of orgIds) {
      const v = await c.services.audit.verify({
        tenantId: id,
        actor: { kind: 'system', name: 'test' },
        requestId: 'erasure-test',
      });
      expect({ id, valid: v.valid, reason: v.reason }).toEqual({ id, valid: true, reason: null });
      expect(v.entriesChecked).toBeGreaterThan(0);
    }
    // The organization they were alone in is scheduled for deletion (the lifecycle's deletion workflow).
    const su = await connect(testDb().adminUrl);
    try {
      const marked = await su.query<{ deletion_requested_at: Date | null; lifecycle_state: string }>(
        'select deletion_requested_at, lifecycle_state from organizations where id = $1',
        [alone.id],
      );
      expect(marked.rows[0]!.deletion_requested_at).not.toBeNull();
      expect(marked.rows[0]!.lifecycle_state).toBe('pending_deletion');
      const user = await su.query<{ erased_at: Date | null }>(
        'select email, name, password_hash, erased_at from users where id = $1',
        [erasee.userId],
      );
      expect(user.rows[0]).toMatchObject({ name: null, password_hash: null });
      expect(user.rows[0]!.erased_at).not.toBeNull();
    } finally {
      await su.end();
    }
    // Nowhere in the database, audit tables included, in readable form.
    expect(await tablesContaining([erasee.email, displayName, ua, ip])).toEqual([]);
    // Nor in a stored export archive (their account export is deleted with the account).
    expect(
      await archivesContaining([erasee.email, displayName, ua, ip], { userId: erasee.userId, orgIds }),
    ).toEqual([]);

    // Idempotent for the platform path; the platform chain records it once.
    const admin = await signUpPlatformAdmin(c, 'erasure-admin');
    const again = await admin.browser.delete(`/v1/platform/users/${erasee.userId}`);
    expect(again.statusCode, again.body).toBe(204);
  });

  it('platform administrators erase a user (audited in the platform chain); others may not', async () => {
    const admin = await signUpPlatformAdmin(c, 'erasure-admin2');
    const target = await signUp(c, 'erasure-target');
    const notAdmin = await owner.browser.delete(`/v1/platform/users/${target.userId}`);
    expect(notAdmin.statusCode).toBe(403);
    const unknown = await admin.browser.delete(`/v1/platform/users/${uuidv7()}`);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'ACCOUNT_NOT_FOUND' } });
    const self = await admin.browser.delete(`/v1/platform/users/${admin.userId}`);
    expect(self.statusCode).toBe(409);

    const ok = await admin.browser.delete(`/v1/platform/users/${target.userId}`);
    expect(ok.statusCode, ok.body).toBe(204);
    expect((await target.browser.get('/v1/auth/me')).statusCode).toBe(401);
    const again = await admin.browser.delete(`/v1/platform/users/${target.userId}`);
    expect(again.statusCode).toBe(204);
    const chain = await admin.browser.get('/v1/platform/audit-logs?action=user.erased');
    const events = chain
      .json<{ data: (EventBody & { target: { id: string } })[] }>()
      .data.filter((e) => e.target.id === target.userId);
    expect(events).toHaveLength(1);
    // The administrator's own address and agent are sealed under their key, and open for readers.
    expect(events[0]!.ip).toBeTruthy();
    expect((await admin.browser.get('/v1/platform/audit-logs/verify')).json()).toMatchObject({ valid: true });
    expect(await tablesContaining([target.email])).toEqual([]);
  });
});
