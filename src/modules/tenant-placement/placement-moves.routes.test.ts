import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrg,
  inOrg,
  ownDatabaseAround,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from '../../../test/e2e/helpers.js';
import type { ProvisionedDatabase } from '../../../test/support/provision.js';

interface Move {
  id: string;
  organizationId: string;
  from: string;
  to: string;
  step: string;
  freezeMs: number | null;
  error: string | null;
}

/**
 * The platform-admin API of placement moves through the full composition (the owner role wired as at a
 * start that migrated): refused to everyone else, start → done in the background, idempotent by key,
 * an ended move not abortable, the list paginated newest first, each start and abort audited.
 *
 * A database of its own: a move to a schema creates the organization's schema and tables (DDL, with
 * foreign keys to public's tables, which it locks), and a placement schema in the suite's database is one
 * other files' exact catalog and grant checks of that database see while it is there.
 */
let own: ProvisionedDatabase;
ownDatabaseAround('sr_moves_http', (db) => (own = db));

describe('placement moves over HTTP', () => {
  let c: E2eApp;
  let admin: User;
  let owner: User;
  let org: { id: string; slug: string };

  const until = async (id: string, steps: string[]): Promise<Move> => {
    for (let i = 0; i < 300; i++) {
      const res = await admin.browser.get(`/v1/platform/placement-moves/${id}`);
      expect(res.statusCode, res.body).toBe(200);
      const m = res.json<Move>();
      if (steps.includes(m.step)) return m;
      expect(m.step).not.toBe('failed');
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`move ${id} did not reach ${steps.join('/')}`);
  };

  beforeAll(async () => {
    c = await startApp({
      placementCacheTtlMs: 200,
      database: {
        url: own.url,
        workerUrl: own.workerUrl,
        keyVaultUrl: own.keyVaultUrl,
        owner: { url: own.migrationUrl, roles: own.roles },
      },
    });
    admin = await signUpPlatformAdmin(c, 'moves-admin', own.migrationUrl);
    owner = await signUp(c, 'moves-owner');
    org = await createOrg(owner.browser, 'mvs');
    expect((await owner.browser.post('/v1/projects', { name: 'kept' }, inOrg(org.id))).statusCode).toBe(201);
  });
  afterAll(() => stopApp(c));

  it('answers non-administrators as every platform route does: 403 with a session, 401 without', async () => {
    const url = `/v1/platform/organizations/${org.id}/placement-moves`;
    expect((await owner.browser.post(url, { to: 'schema' }, inOrg(org.id))).statusCode).toBe(403);
    expect((await owner.browser.get('/v1/platform/placement-moves')).statusCode).toBe(403);
    expect((await owner.browser.get('/v1/platform/placement-targets')).statusCode).toBe(403);
    expect((await c.app.inject({ url: '/v1/platform/placement-moves' })).statusCode).toBe(401);
  });

  it('starts a move (202), runs it to done, answers a retry with the same key with the same move', async () => {
    const url = `/v1/platform/organizations/${org.id}/placement-moves`;
    const key = { 'idempotency-key': `move-${org.id}` };
    const started = await admin.browser.post(url, { to: 'schema' }, key);
    expect(started.statusCode, started.body).toBe(202);
    const move = started.json<Move>();
    expect(move).toMatchObject({ organizationId: org.id, from: 'pooled', to: 'schema' });

    const done = await until(move.id, ['done']);
    expect(done.freezeMs).toEqual(expect.any(Number));
    expect(done.error).toBeNull();
    // The organization's data came along.
    const projects = await owner.browser.get('/v1/projects', inOrg(org.id));
    expect(projects.json<{ data: { name: string }[] }>().data.map((p) => p.name)).toContain('kept');

    const retry = await admin.browser.post(url, { to: 'schema' }, key);
    expect(retry.statusCode, retry.body).toBe(202);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.json<Move>().id).toBe(move.id);
    // Without the key, a move to where it already is: 409.
    const again = await admin.browser.post(url, { to: 'schema' });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'MOVE_ALREADY_PLACED' } });

    const abort = await admin.browser.post(`/v1/platform/placement-moves/${move.id}/abort`);
    expect(abort.statusCode).toBe(409);
    expect(abort.json()).toMatchObject({ error: { code: 'MOVE_NOT_ABORTABLE' } });

    // And back to pooled.
    const back = await admin.browser.post(url, { to: 'pooled' });
    expect(back.statusCode, back.body).toBe(202);
    await until(back.json<Move>().id, ['done']);
  });

  it('refuses unsupported or unconfigured targets (422), unknown organizations and moves (404)', async () => {
    const url = `/v1/platform/organizations/${org.id}/placement-moves`;
    // A tenant database (or region) this server does not configure with an owner URL, and no target at all:
    // it lists none (test/console/placement-moves.test.ts moves into one it lists).
    const targets = await admin.browser.get('/v1/platform/placement-targets');
    expect(targets.statusCode, targets.body).toBe(200);
    expect(targets.json()).toEqual({ data: [] });
    for (const to of ['database:eu_1', 'region:mars', 'elsewhere']) {
      const db = await admin.browser.post(url, { to });
      expect(db.statusCode, to).toBe(422);
      expect(db.json()).toMatchObject({ error: { code: 'MOVE_TARGET_UNSUPPORTED' } });
    }
    const nobody = await admin.browser.post(
      '/v1/platform/organizations/00000000-0000-7000-8000-000000000000/placement-moves',
      { to: 'schema' },
    );
    expect(nobody.statusCode).toBe(404);
    expect(nobody.json()).toMatchObject({ error: { code: 'ORGANIZATION_NOT_FOUND' } });
    const none = await admin.browser.get('/v1/platform/placement-moves/00000000-0000-7000-8000-000000000000');
    expect(none.statusCode).toBe(404);
    expect((await admin.browser.get('/v1/platform/placement-moves/nope')).statusCode).toBe(404);
  });

  it('lists moves newest first, paginated, filtered by organization; starts and aborts audited', async () => {
    const first = await admin.browser.get(`/v1/platform/placement-moves?organizationId=${org.id}&limit=1`);
    expect(first.statusCode, first.body).toBe(200);
    const p1 = first.json<{ data: Move[]; nextCursor: string | null }>();
    expect(p1.data).toHaveLength(1);
    expect(p1.data[0]).toMatchObject({ to: 'pooled' });
    const second = await admin.browser.get(
      `/v1/platform/placement-moves?organizationId=${org.id}&limit=1&cursor=${p1.nextCursor!}`,
    );
    const p2 = second.json<{ data: Move[]; nextCursor: string | null }>();
    expect(p2.data).toMatchObject([{ to: 'schema' }]);
    expect(p2.nextCursor).toBeNull();

    const log = await admin.browser.get('/v1/platform/audit-logs?limit=200');
    const events = log
      .json<{ data: { action: string; target: { id: string | null }; actor: { id: string | null } }[] }>()
      .data.filter((e) => e.target.id === org.id);
    expect(events.map((e) => e.action)).toEqual([
      'organization.placement_move_started',
      'organization.placement_move_started',
    ]);
    for (const e of events) expect(e.actor.id).toBe(admin.userId);
  });
});
