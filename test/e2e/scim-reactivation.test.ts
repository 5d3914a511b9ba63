/**
 * SCIM reactivation (`active: true` after `active: false`) under the linking rule of docs/scim.md: the
 * directory re-adds an account only where it could link it at creation — an address of a domain the
 * organization verified, or an account nobody has claimed yet (no password, address never verified); and
 * the seat limit under concurrent creates; and a changed userName or emails never moving the link.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Browser,
  createOrg,
  inOrg,
  newPassword,
  nextMailedToken,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';
import { asAdmin, mintScimToken, scimRequest, scimUserBody, SCIM_PATCH as PATCH } from './scim-directory.js';

describe('e2e: SCIM reactivation follows the linking rule', () => {
  let c: E2eApp;
  let owner: User;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'scim-react-owner');
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  async function directory(plan = 'enterprise') {
    const org = await createOrg(owner.browser, 'scim-react');
    await asAdmin(`update organizations set plan = $2 where id = $1`, [org.id, plan]);
    const call = scimRequest(c, (await mintScimToken(owner, org.id)).secret);
    const setActive = (id: string, value: boolean) =>
      call('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [{ op: 'replace', value: { active: value } }],
      });
    const replaceEmail = (id: string, email: string) =>
      call('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [
          { op: 'replace', path: 'userName', value: email },
          { op: 'replace', path: 'emails', value: [{ value: email, primary: true }] },
        ],
      });
    const create = (email: string) => call('POST', '/Users', scimUserBody(email));
    const members = async (userId: string) =>
      Number(
        (
          await asAdmin('select count(*) n from memberships where organization_id = $1 and user_id = $2', [
            org.id,
            userId,
          ])
        )[0]!.n,
      );
    return { org, create, setActive, replaceEmail, members };
  }

  it('an account outside the verified domains, claimed by its owner meanwhile, is not re-added', async () => {
    const d = await directory();
    const email = `contractor-${randomBytes(4).toString('hex')}@elsewhere.test`;
    const created = await d.create(email);
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    // Unclaimed: deactivated and reactivated freely.
    expect((await d.setActive(id, false)).statusCode).toBe(200);
    expect((await d.setActive(id, true)).statusCode).toBe(200);
    expect(await d.members(id)).toBe(1);
    expect((await d.setActive(id, false)).statusCode).toBe(200);

    // The mailbox's owner takes the account over (password reset): it is theirs now.
    expect((await new Browser(c).post('/v1/auth/password-reset', { email })).statusCode).toBe(202);
    const token = await nextMailedToken(email, 'reset-password');
    const reset = await new Browser(c).post('/v1/auth/password-reset/confirm', {
      token,
      password: newPassword(),
    });
    expect(reset.statusCode, reset.body).toBe(204);

    const again = await d.setActive(id, true);
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json()).toMatchObject({ scimType: 'uniqueness' });
    expect(await d.members(id)).toBe(0);
  });

  it('an account linked in a verified domain is not re-added once the domain is no longer verified', async () => {
    const d = await directory();
    const domain = `react-${randomBytes(4).toString('hex')}.test`;
    await asAdmin(
      `insert into organization_domains (organization_id, domain, verification_token, status, verified_at)
       values ($1, $2, 'test', 'verified', now())`,
      [d.org.id, domain],
    );
    const email = `person@${domain}`;
    const b = new Browser(c);
    expect((await b.post('/v1/auth/register', { email, password: newPassword() })).statusCode).toBe(202);
    const created = await d.create(email);
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    expect((await d.setActive(id, false)).statusCode).toBe(200);
    expect((await d.setActive(id, true)).statusCode).toBe(200);
    expect(await d.members(id)).toBe(1);
    expect((await d.setActive(id, false)).statusCode).toBe(200);

    await asAdmin(`update organization_domains set status = 'pending' where organization_id = $1`, [
      d.org.id,
    ]);
    const again = await d.setActive(id, true);
    expect(again.statusCode, again.body).toBe(409);
    expect(await d.members(id)).toBe(0);
  });

  it('concurrent creates for the last free seat: exactly one takes it', async () => {
    const d = await directory('free');
    const limit = Number(
      (await asAdmin(`select seat_limit from plans where key = 'free'`, []))[0]!.seat_limit,
    );
    const addr = () => `seat-${randomBytes(5).toString('hex')}@elsewhere.test`;
    // The owner holds one seat; leave exactly one free.
    for (let i = 2; i < limit; i++) expect((await d.create(addr())).statusCode).toBe(201);
    const answers = await Promise.all(Array.from({ length: 5 }, () => d.create(addr())));
    expect(answers.map((r) => r.statusCode).sort()).toEqual([201, 403, 403, 403, 403]);
    const active = await asAdmin(
      `select count(*) n from memberships where organization_id = $1 and status = 'active'`,
      [d.org.id],
    );
    expect(Number(active[0]!.n)).toBe(limit);
  });

  it("changing a user's userName and emails never moves the link to another account", async () => {
    const stranger = await signUp(c, 'scim-react-stranger');
    const d = await directory();
    const created = await d.create(`moved-${randomBytes(4).toString('hex')}@elsewhere.test`);
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ id: string }>().id;
    const patched = await d.replaceEmail(id, stranger.email);
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ id, userName: stranger.email });
    expect((await d.setActive(id, false)).statusCode).toBe(200);
    expect((await d.setActive(id, true)).statusCode).toBe(200);
    expect(await d.members(id)).toBe(1);
    expect(await d.members(stranger.userId)).toBe(0);
    expect((await stranger.browser.get('/v1/projects', inOrg(d.org.id))).statusCode).toBe(404);
  });
});
