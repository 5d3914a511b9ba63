import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import {
  answerWithLogs,
  createOrg,
  createProject,
  inOrg,
  ORG_NOT_FOUND,
  ownDatabaseAround,
  signUp,
  startAppAround,
  type E2eApp,
  type User,
} from './helpers.js';
import { connect } from '../support/tenancy.js';
import type { ProvisionedDatabase } from '../support/provision.js';

/**
 * DDL on the tables a request reads (a migration, another process's `CREATE POLICY`, `ALTER TABLE`) takes
 * ACCESS EXCLUSIVE locks table after table, in its own order; a request's read locks the tables of its
 * statement in the statement's order. When the two orders cross, PostgreSQL breaks the cycle by failing
 * one of them with "deadlock detected" (40P01): when that is the request's read, nothing of it ran, and
 * the request is not at fault. Seen in a full test run: a cross-tenant request's membership read
 * (then memberships, organizations, roles in one statement; now memberships and organizations, the role's
 * permissions apart) against the catalog test's throwaway policies (roles, then memberships) in the suite's
 * database answered 500 INTERNAL.
 *
 * A database of its own: the locks taken here would block other files' requests in the suite's.
 */
describe('a request whose read is chosen as a deadlock victim', () => {
  let db: ProvisionedDatabase;
  let c: E2eApp;
  let attacker: User;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let ddl: pg.Client;

  ownDatabaseAround('sr_deadlock', (own) => (db = own));
  startAppAround(
    (started) => (c = started),
    () => ({ database: db }),
  );
  beforeAll(async () => {
    attacker = await signUp(c, 'dl-attacker');
    const ownerB = await signUp(c, 'dl-owner-b');
    a = await createOrg(attacker.browser, 'dla');
    b = await createOrg(ownerB.browser, 'dlb');
    ddl = await connect(db.adminUrl);
  });
  afterAll(() => ddl?.end());

  /** The backends of the runtime role waiting for a lock on `table`. */
  const waitingOn = async (table: string) =>
    (
      await ddl.query<{ n: number }>(
        `select count(*)::int as n from pg_locks l join pg_stat_activity a on a.pid = l.pid
         where not l.granted and l.relation = $1::regclass and a.usename = $2`,
        [table, db.roles.runtime],
      )
    ).rows[0]!.n;

  /**
   * Runs `call` while a DDL transaction holds ACCESS EXCLUSIVE on `first`, waits until the request's read
   * waits for it (holding its lock on `then`), then locks `then` too: the read, which waited first, finds
   * the cycle and is failed with 40P01. The DDL transaction rolls back a moment later.
   */
  const underCrossingDdl = async <T>(first: string, then: string, call: () => Promise<T>) => {
    await ddl.query('begin');
    try {
      // Only the request's backend looks for the cycle (after its own deadlock_timeout), so it is the one failed.
      await ddl.query(`set local deadlock_timeout = '60s'`);
      await ddl.query(`lock table ${first} in access exclusive mode`);
      const answer = call();
      for (let i = 0; (await waitingOn(first)) === 0; i++) {
        if (i > 200) throw new Error(`no request waited for ${first}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      await ddl.query(`lock table ${then} in access exclusive mode`);
      await new Promise((r) => setTimeout(r, 100));
      await ddl.query('rollback');
      return await answer;
    } catch (err) {
      await ddl.query('rollback');
      throw err;
    }
  };

  it("naming an organization the caller is not a member of: 404, not 500, while DDL crosses its membership read's locks", async () => {
    const url = `/v1/orgs/${b.slug}/billing/invoices/${randomUUID()}`;
    // The slug is known and the membership read's statement prepared: only that read meets the DDL.
    const before = await attacker.browser.get(url);
    expect(before.statusCode, answerWithLogs(c, before)).toBe(404);

    // The membership read locks memberships, then organizations (its statement's order).
    const res = await underCrossingDdl('organizations', 'memberships', () => attacker.browser.get(url));
    expect(res.statusCode, answerWithLogs(c, res)).toBe(404);
    expect(res.json()).toEqual(ORG_NOT_FOUND);
    // The DDL's second lock was granted while the DDL held the first: the read had been failed (40P01),
    // then sent again after the rollback.
  });

  it('a write transaction failed to break the cycle: 503 DATABASE_BUSY with Retry-After, not 500', async () => {
    const project = await createProject(attacker.browser, a.id, 'renamed under DDL');
    // The update holds its row lock on projects, then waits to record its audit entry.
    const res = await underCrossingDdl('audit_pending', 'projects', () =>
      attacker.browser.patch(`/v1/projects/${project}`, { name: 'renamed' }, inOrg(a.id)),
    );
    expect(res.statusCode, answerWithLogs(c, res)).toBe(503);
    expect(res.json()).toEqual({
      error: { code: 'DATABASE_BUSY', message: 'the database could not complete the request now; try again' },
    });
    expect(res.headers['retry-after']).toBe('1');
    const logged = c.logs.filter((l) => l.request_id === res.headers['x-request-id'] && l.level === 40);
    expect(logged.map((l) => [l.msg, l.sqlstate])).toEqual([['transient database conflict', '40P01']]);
    // Nothing of it was kept; the same request again succeeds.
    const again = await attacker.browser.patch(`/v1/projects/${project}`, { name: 'renamed' }, inOrg(a.id));
    expect(again.statusCode, again.body).toBe(200);
  });
});
