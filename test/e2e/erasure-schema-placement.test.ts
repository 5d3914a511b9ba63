/**
 * Erasure of a user who acted in an organization placed in its own schema (real composition): its scopes
 * run on a handle of their own (placement.ts), yet the actor's IP address and user agent, and the
 * invitee's address, are stored sealed in its schema like a pooled organization's, readers open them, and
 * once the user is erased they no longer open. On the shared `placements` database
 * (test/support/placement-kinds.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { kindDatabase, type KindDatabase } from '../support/placement-kinds.js';
import { connect } from '../support/tenancy.js';
import { isSealedPersonal, sealedFor } from '../../src/platform/user-keys/personal-seal.js';
import { uuidv7 } from '../../src/platform/ids.js';
import {
  addNewMember,
  createOrg,
  inOrg,
  ORIGIN,
  signUp,
  startApp,
  stopApp,
  withoutSeatLimit,
  type E2eApp,
  type User,
} from './helpers.js';

interface EventBody {
  action: string;
  ip: string | null;
  userAgent: string | null;
  metadata: Record<string, unknown> | null;
  erased: string[];
}

describe('erasure of a user who acted in a schema-placed organization (real composition)', () => {
  let c: E2eApp;
  let where: KindDatabase;
  let su: pg.Client;
  let owner: User;
  let org: { id: string; slug: string };
  let schema: string;
  let erasee: Awaited<ReturnType<typeof addNewMember>>;
  const ip = '203.0.113.91';
  const ua = `schema-erasee-agent/${uuidv7().slice(-12)}`;

  /** The organization's audit rows in its schema (chained or still pending), as the superuser. */
  const stored = async () =>
    (
      await su.query<{ action: string; actor_id: string; ip: string; user_agent: string; metadata: unknown }>(
        `select action, actor_id, ip, user_agent, metadata from "${schema}".audit_events where organization_id = $1
         union all
         select action, actor_id, ip, user_agent, metadata from "${schema}".audit_pending where organization_id = $1`,
        [org.id],
      )
    ).rows;

  beforeAll(async () => {
    where = await kindDatabase('schema');
    c = await startApp({ database: where.db });
    su = await connect(where.db.adminUrl);
    owner = await signUp(c, 'schema-erasure-owner');
    org = await createOrg(owner.browser, 'schema-erasure');
    // Placed before the events below: each of them goes through the placement.
    await where.place(c.tenancy, org.id);
    schema = where.schemaOf(org.id);
    expect(schema).not.toBe('public');
    await withoutSeatLimit(c, org.id);
    erasee = await addNewMember(owner.browser, org.id, 'admin', 'schema-erasee');
  });
  afterAll(async () => {
    await su?.end();
    await stopApp(c);
  });

  it('stores the actor’s IP and user agent and the invitee’s address sealed in the schema; readers open them; erasure makes them unreadable', async () => {
    const created = await c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      payload: { name: 'in schema' },
      remoteAddress: ip,
      headers: { origin: ORIGIN, 'user-agent': ua, cookie: erasee.browser.cookie!, ...inOrg(org.id) },
    });
    expect(created.statusCode, created.body).toBe(201);

    const rows = await stored();
    const mine = rows.find((r) => r.action === 'project.created' && r.actor_id === erasee.userId);
    expect(mine).toBeDefined();
    expect(isSealedPersonal(mine!.ip)).toBe(true);
    expect(sealedFor(mine!.ip)).toBe(erasee.userId);
    expect(isSealedPersonal(mine!.user_agent)).toBe(true);
    const invited = rows.find((r) => r.action === 'member.invited');
    expect(isSealedPersonal((invited!.metadata as { email: string }).email)).toBe(true);
    for (const needle of [ua, ip, erasee.email]) expect(JSON.stringify(rows)).not.toContain(needle);

    const list = async (query: string) => {
      const res = await owner.browser.get(`/v1/audit-logs?${query}`, inOrg(org.id));
      expect(res.statusCode, res.body).toBe(200);
      return res.json<{ data: EventBody[] }>().data;
    };
    const project = async () =>
      (await list(`actor=${erasee.userId}`)).find((e) => e.action === 'project.created');
    expect(await project()).toMatchObject({ ip, userAgent: ua, erased: [] });
    expect((await list('action=member.invited'))[0]!.metadata).toMatchObject({ email: erasee.email });

    const erased = await erasee.browser.req('DELETE', '/v1/account', { password: erasee.password });
    expect(erased.statusCode, erased.body).toBe(204);
    expect(await project()).toMatchObject({ ip: null, userAgent: null, erased: ['ip', 'user_agent'] });
    const after = (await list('action=member.invited'))[0]!;
    expect(after.metadata).toMatchObject({ email: null });
    expect(after.erased).toContain('metadata.email');
    const verified = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
    expect(verified.json<{ valid: boolean }>().valid).toBe(true);
  });
});
