import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setPasswordHash } from './users.repository.js';
import { buildAuthHarness, freshEmail, signUpAndVerify, type AuthHarness } from './auth.test-helpers.js';

/**
 * A password sign-in's session is created only while the user's `credentials_changed_at` is still the
 * value the sign-in read (SessionService.create `credentialsChangedAt`, sessions.repository.ts
 * `insertSession`), atomically with the insert: a change that holds the user row makes it wait and then
 * refuse.
 */
describe('session creation guarded by the credentials a sign-in read', () => {
  let h: AuthHarness;
  beforeAll(async () => {
    h = await buildAuthHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const meta = { ip: '192.0.2.10', userAgent: 'guard test' };
  const generation = async (userId: string) =>
    (
      await h.db
        .selectFrom('users')
        .select('credentials_changed_at')
        .where('id', '=', userId)
        .executeTakeFirstOrThrow()
    ).credentials_changed_at;
  const liveSessions = async (userId: string) =>
    (
      await h.admin.query(
        'select id from sessions where user_id = $1 and revoked_at is null and user_agent = $2',
        [userId, meta.userAgent],
      )
    ).rowCount;

  it('creates the session for the current value, and refuses a value the credentials moved past', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('guard') });
    const read = await generation(u.userId);
    const created = await h.sessions.create(u.userId, meta, {
      currentOrganizationId: null,
      credentialsChangedAt: read,
    });
    expect(created.session.userId).toBe(u.userId);
    // The value has microseconds; the driver reads milliseconds: the guard compares at that precision.
    await h.admin.query(
      `update users set credentials_changed_at = credentials_changed_at + interval '1 millisecond' where id = $1`,
      [u.userId],
    );
    await expect(
      h.sessions.create(u.userId, meta, { currentOrganizationId: null, credentialsChangedAt: read }),
    ).rejects.toMatchObject({ code: 'AUTH_INVALID_CREDENTIALS', status: 401 });
    expect(await liveSessions(u.userId)).toBe(1);
  });

  it('waits for a change that holds the user row, then sees it and refuses', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('guard-wait') });
    const read = await generation(u.userId);
    await h.admin.query('begin');
    await h.admin.query(
      `update users set credentials_changed_at = now() + interval '1 second' where id = $1`,
      [u.userId],
    );
    let settled = false;
    const creating = h.sessions
      .create(u.userId, meta, { currentOrganizationId: null, credentialsChangedAt: read })
      .finally(() => (settled = true));
    creating.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(settled).toBe(false); // held by the change's row lock (FOR SHARE conflicts with it)
    await h.admin.query('commit');
    await expect(creating).rejects.toMatchObject({ code: 'AUTH_INVALID_CREDENTIALS' });
    expect(await liveSessions(u.userId)).toBe(0);
  });

  it('a rehash replaces only the hash it checked: never a password changed since it was read', async () => {
    const u = await signUpAndVerify(h, { email: freshEmail('guard-rehash') });
    const hashOf = async () =>
      (
        await h.db
          .selectFrom('users')
          .select('password_hash')
          .where('id', '=', u.userId)
          .executeTakeFirstOrThrow()
      ).password_hash;
    const read = await hashOf();
    // A change commits between the sign-in's read and its rehash.
    await setPasswordHash(h.db, u.userId, 'changed-meanwhile', { credentialsChanged: true });
    await setPasswordHash(h.db, u.userId, 'rehash-of-the-old-password', {
      credentialsChanged: false,
      replacing: read!,
    });
    expect(await hashOf()).toBe('changed-meanwhile');
    // Over the hash it read, the rehash applies.
    await setPasswordHash(h.db, u.userId, 'rehash-of-the-new-password', {
      credentialsChanged: false,
      replacing: 'changed-meanwhile',
    });
    expect(await hashOf()).toBe('rehash-of-the-new-password');
  });
});
