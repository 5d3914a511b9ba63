import pg from 'pg';
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
  tenantDatabasesOption,
  type User,
} from '../../../test/e2e/helpers.js';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../../test/support/provision.js';
import { testDb } from '../../../test/support/tenancy.js';

interface Move {
  id: string;
  organizationId: string;
  from: string;
  to: string;
  databaseKey: string | null;
  fromDatabaseKey: string | null;
  step: string;
  freezeMs: number | null;
  error: string | null;
}

/**
 * The platform-admin API of placement moves through the full composition (the owner role wired as at a
 * start that migrated): refused to everyone else, start → done in the background, idempotent by key,
 * an ended move not abortable, the list paginated newest first, each start and abort audited; into a
 * tenant database (`t1`, configured with its owner URL) and out of it again.
 *
 * A database of its own: a move to a schema creates the organization's schema and tables (DDL, with
 * foreign keys to public's tables, which it locks), and a placement schema in the suite's database is one
 * other files' exact catalog and grant checks of that database see while it is there.
 */
let own: ProvisionedDatabase;
ownDatabaseAround('sr_moves_http', (db) => (own = db));
/** The tenant database `t1`, which the server can move organizations into and out of. */
let t1: ProvisionedDatabase;
beforeAll(async () => {
  t1 = await provisionDatabase(testDb().superuserUrl, 'sr_moves_http_t1', { tenantDatabase: true });
});
afterAll(async () => {
  if (t1) await dropProvisioned(t1);
});

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
      tenantDatabases: tenantDatabasesOption(
        { t1: { url: t1.url, ownerUrl: t1.migrationUrl, workerUrl: t1.workerUrl } },
        { maxConnections: 6, poolSize: 3 },
      ),
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
    // A tenant database (or region) this server does not configure, and no target at all: it lists the one
    // it configures with an owner URL (t1), without a region.
    const targets = await admin.browser.get('/v1/platform/placement-targets');
    expect(targets.statusCode, targets.body).toBe(200);
    expect(targets.json()).toEqual({ data: [{ databaseKey: 't1', regions: [] }] });
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
  it('moves an organization into a tenant database and out of it again (fromDatabaseKey); refuses the database it is in (409)', async () => {
    const placed = await createOrg(owner.browser, 'mvsdb');
    expect((await owner.browser.post('/v1/projects', { name: 'kept-db' }, inOrg(placed.id))).statusCode).toBe(
      201,
    );
    const url = `/v1/platform/organizations/${placed.id}/placement-moves`;
    const into = await admin.browser.post(url, { to: 'database:t1' });
    expect(into.statusCode, into.body).toBe(202);
    expect(into.json()).toMatchObject({
      from: 'pooled',
      to: 'database',
      databaseKey: 't1',
      fromDatabaseKey: null,
    });
    await until(into.json<Move>().id, ['done']);

    // Where it already is: the same tenant database.
    const same = await admin.browser.post(url, { to: 'database:t1' });
    expect(same.statusCode, same.body).toBe(409);
    expect(same.json()).toMatchObject({ error: { code: 'MOVE_ALREADY_PLACED' } });

    // Out of it, back to pooled: the move says which tenant database it leaves.
    const out = await admin.browser.post(url, { to: 'pooled' });
    expect(out.statusCode, out.body).toBe(202);
    expect(out.json()).toMatchObject({
      from: 'database',
      to: 'pooled',
      databaseKey: null,
      fromDatabaseKey: 't1',
    });
    const done = await until(out.json<Move>().id, ['done']);
    expect(done.error).toBeNull();
    const listed = await admin.browser.get(`/v1/platform/placement-moves?organizationId=${placed.id}`);
    expect(
      listed.json<{ data: Move[] }>().data.map((m) => [m.from, m.fromDatabaseKey, m.to, m.databaseKey]),
    ).toEqual([
      ['database', 't1', 'pooled', null],
      ['pooled', null, 'database', 't1'],
    ]);
    const projects = await owner.browser.get('/v1/projects', inOrg(placed.id));
    expect(projects.json<{ data: { name: string }[] }>().data.map((p) => p.name)).toEqual(['kept-db']);
    const adminDb = new pg.Client({ connectionString: own.adminUrl });
    await adminDb.connect();
    try {
      const placement = await adminDb.query(
        'select kind, database_key, state from tenant_placements where organization_id = $1',
        [placed.id],
      );
      expect(placement.rows).toEqual([{ kind: 'pooled', database_key: null, state: 'active' }]);

      // An organization placed (by hand) in a tenant database this server does not configure with an owner
      // URL: its move out is refused (422), recorded as aborted, and it stays where it is.
      const stranded = await createOrg(owner.browser, 'mvsgone');
      await adminDb.query(
        `insert into tenant_placements (organization_id, kind, database_key, state)
           values ($1, 'database', 'gone', 'active')
         on conflict (organization_id) do update set kind = 'database', database_key = 'gone', state = 'active'`,
        [stranded.id],
      );
      const refused = await admin.browser.post(`/v1/platform/organizations/${stranded.id}/placement-moves`, {
        to: 'pooled',
      });
      expect(refused.statusCode, refused.body).toBe(422);
      const error = refused.json<{ error: { code: string; message: string } }>().error;
      expect(error.code).toBe('MOVE_TARGET_UNSUPPORTED');
      expect(error.message).toContain('tenant database gone');
      const left = await admin.browser.get(`/v1/platform/placement-moves?organizationId=${stranded.id}`);
      expect(left.json<{ data: Move[] }>().data).toMatchObject([
        { from: 'database', fromDatabaseKey: 'gone', to: 'pooled', step: 'aborted' },
      ]);
      const still = await adminDb.query(
        'select kind, database_key, state from tenant_placements where organization_id = $1',
        [stranded.id],
      );
      expect(still.rows).toEqual([{ kind: 'database', database_key: 'gone', state: 'active' }]);
    } finally {
      await adminDb.end();
    }
  });
});
