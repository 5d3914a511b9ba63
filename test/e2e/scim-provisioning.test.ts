import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrg,
  inOrg,
  signUp,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
  type User,
} from './helpers.js';
import {
  asAdmin,
  newScimClient,
  scimClient,
  SCIM_ERROR as ERROR,
  SCIM_PATCH as PATCH,
  scimUserBody as userBody,
} from './scim-directory.js';

const active = (value: boolean) => ({
  schemas: [PATCH],
  Operations: [{ op: 'replace', value: { active: value } }],
});

const verifyDomain = (orgId: string, domain: string) =>
  asAdmin(
    `insert into organization_domains (organization_id, domain, verification_token, status, verified_at)
     values ($1, $2, 'test', 'verified', now())`,
    [orgId, domain],
  );

describe('e2e: SCIM provisioning rules (linking, seats)', () => {
  let c: E2eApp;
  let owner: User;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'scim-prov-owner');
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  async function enterpriseOrg(prefix: string) {
    const org = await createOrg(owner.browser, prefix);
    await asAdmin(`update organizations set plan = 'enterprise' where id = $1`, [org.id]);
    return { org, scim: await newScimClient(c, owner, org.id) };
  }
  const countWhere = async (sql: string, values: unknown[]) => Number((await asAdmin(sql, values))[0]!.n);

  it('an existing account outside the verified domains is refused: 409 uniqueness, nothing written', async () => {
    const stranger = await signUp(c, 'scim-stranger');
    const { org, scim } = await enterpriseOrg('scim-foreign');
    const res = await scim.post('/Users', userBody(stranger.email));
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({
      schemas: [ERROR],
      scimType: 'uniqueness',
    });
    expect(res.json<{ detail: string }>().detail).toContain(
      'e2e.example.com is not a verified domain of this organization',
    );
    const args = [org.id, stranger.userId];
    expect(
      await countWhere(
        'select count(*) n from memberships where organization_id = $1 and user_id = $2',
        args,
      ),
    ).toBe(0);
    expect(
      await countWhere('select count(*) n from scim_users where organization_id = $1 and user_id = $2', args),
    ).toBe(0);
    // The stranger's session never sees the organization.
    expect((await stranger.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(404);
    // A pending (unverified) domain is not enough either.
    await asAdmin(
      `insert into organization_domains (organization_id, domain, verification_token) values ($1, $2, 't')`,
      [org.id, 'e2e.example.com'],
    );
    expect((await scim.post('/Users', userBody(stranger.email))).statusCode).toBe(409);
  });

  it('an existing account of a verified domain is linked', async () => {
    const person = await signUp(c, 'scim-own-domain');
    const { org, scim } = await enterpriseOrg('scim-verified');
    await verifyDomain(org.id, 'e2e.example.com');
    const res = await scim.post('/Users', userBody(person.email.toUpperCase()));
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ id: person.userId, active: true });
    expect((await person.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(200);
  });

  it('a new address gets a new account, in any domain', async () => {
    const { org, scim } = await enterpriseOrg('scim-new');
    await verifyDomain(org.id, 'e2e.example.com');
    for (const email of [uniqueEmail('scim-new'), `new-${randomBytes(4).toString('hex')}@elsewhere.test`]) {
      const res = await scim.post('/Users', userBody(email));
      expect(res.statusCode, res.body).toBe(201);
      const id = res.json<{ id: string }>().id;
      expect(
        await countWhere('select count(*) n from users where id = $1 and email_normalized = $2', [id, email]),
      ).toBe(1);
    }
  });

  it("the plan's seat limit applies to provisioning and reactivation: 403 naming the limit, nothing written", async () => {
    const org = await createOrg(owner.browser, 'scim-seats');
    await asAdmin(`update organizations set plan = 'free' where id = $1`, [org.id]);
    const limit = Number(
      (await asAdmin(`select seat_limit from plans where key = 'free'`, []))[0]!.seat_limit,
    );
    const scim = await newScimClient(c, owner, org.id);
    const ids: string[] = [];
    // The owner holds one seat.
    for (let i = 1; i < limit; i++) {
      const res = await scim.post('/Users', userBody(uniqueEmail('scim-seat')));
      expect(res.statusCode, res.body).toBe(201);
      ids.push(res.json<{ id: string }>().id);
    }
    const over = uniqueEmail('scim-over');
    const refused = await scim.post('/Users', userBody(over));
    expect(refused.statusCode, refused.body).toBe(403);
    expect(refused.json()).toMatchObject({
      schemas: [ERROR],
      status: '403',
    });
    expect(refused.json<{ detail: string }>().detail).toContain(
      `the plan allows ${limit} seats and ${limit} are in use`,
    );
    expect(await countWhere('select count(*) n from users where email_normalized = $1', [over])).toBe(0);
    expect(await countWhere('select count(*) n from scim_users where organization_id = $1', [org.id])).toBe(
      limit - 1,
    );

    // An inactive user takes no seat; reactivating one needs a free seat.
    const first = ids[0]!;
    expect((await scim.patch(`/Users/${first}`, active(false))).statusCode).toBe(200);
    const parked = await scim.post('/Users', { ...userBody(uniqueEmail('scim-parked')), active: false });
    expect(parked.statusCode, parked.body).toBe(201);
    const taken = await scim.post('/Users', userBody(uniqueEmail('scim-taker')));
    expect(taken.statusCode, taken.body).toBe(201);
    const back = await scim.patch(`/Users/${first}`, active(true));
    expect(back.statusCode, back.body).toBe(403);
    expect(back.json<{ detail: string }>().detail).toContain(`allows ${limit} seats`);
    expect((await scim.get(`/Users/${first}`)).json()).toMatchObject({ active: false });
    expect(
      await countWhere(
        `select count(*) n from memberships where organization_id = $1 and status = 'active'`,
        [org.id],
      ),
    ).toBe(limit);
  });
});

describe('e2e: SCIM rate limit', () => {
  let c: E2eApp;
  let owner: User;

  beforeAll(async () => {
    c = await startApp({ scimRateLimit: { perToken: 3, perOrganization: 5 } });
    owner = await signUp(c, 'scim-rate-owner');
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  it('429 with a SCIM error body and Retry-After, per token and per organization', async () => {
    const org = await createOrg(owner.browser, 'scim-rate');
    const one = await newScimClient(c, owner, org.id);
    const two = await newScimClient(c, owner, org.id);
    for (let i = 0; i < 3; i++) expect((await one.get('/Users?count=1')).statusCode).toBe(200);
    const limited = await one.get('/Users?count=1');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['content-type']).toMatch(/^application\/scim\+json/);
    const retry = Number(limited.headers['retry-after']);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(limited.json()).toMatchObject({
      schemas: [ERROR],
      status: '429',
    });
    expect(limited.json<{ detail: string }>().detail).toContain('at most 3 per minute per token');
    // Another token of the organization has its own budget, up to the organization's (5).
    expect((await two.get('/Users?count=1')).statusCode).toBe(200);
    expect((await two.get('/Users?count=1')).statusCode).toBe(200);
    expect((await two.get('/Users?count=1')).statusCode).toBe(429);
    // Another organization is not affected; a bad token is still 401 (not counted, not limited).
    const other = await createOrg(owner.browser, 'scim-rate-b');
    expect((await (await newScimClient(c, owner, other.id)).get('/Users?count=1')).statusCode).toBe(200);
    expect((await scimClient(c, 'scim_0000000000000000_nope').get('/Users')).statusCode).toBe(401);
  });
});
