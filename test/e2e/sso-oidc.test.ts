/**
 * OIDC single sign-on end to end, browser-free: the real composition over HTTP, a fake OpenID provider
 * on loopback (test/support/oidc-fake-idp.ts) and a fake DNS TXT resolver. Each refusal test spoils ONE
 * thing of an otherwise valid answer, so a refusal proves that check.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, ORIGIN, createOrg, inOrg, startApp, stopApp, type E2eApp } from './helpers.js';
import { startFakeIdp, type FakeIdp, type Tamper } from '../support/oidc-fake-idp.js';
import pg from 'pg';
import { systemCtx } from '../../src/platform/tenancy/context.js';
import { recheckVerifiedDomains } from '../../src/modules/sso/domain-recheck.js';
import { connect, testDb } from '../support/tenancy.js';
import { enterpriseOrg, fakeDns, verifiedAccount } from './sso-helpers.js';

const { txt, resolveTxt } = fakeDns();

/** Signs up (and verifies) a user with a chosen address. */
const signUpAs = verifiedAccount;

describe('OIDC sign-in (fake provider)', () => {
  let c: E2eApp;
  let idp: FakeIdp;
  let owner: Awaited<ReturnType<typeof signUpAs>>;
  let org: { id: string; slug: string };
  let domain: string;
  let connectionId: string;

  async function verifyDomain(who: Browser, orgId: string, d: string) {
    const added = await who.post('/v1/sso/domains', { domain: d }, inOrg(orgId));
    expect(added.statusCode, added.body).toBe(201);
    const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
    expect(rec.name).toBe(`_saasready-verification.${d}`);
    txt.set(rec.name, rec.value);
    return who.post(`/v1/sso/domains/${d}/verify`, {}, inOrg(orgId));
  }

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt } });
    idp = await startFakeIdp();
    domain = `acme-${randomBytes(4).toString('hex')}.test`;
    owner = await signUpAs(c, `owner@${domain}`);
    // JIT takes seats: the organization is on the plan without a seat limit (the limit: its own test).
    org = await enterpriseOrg(owner.browser, 'sso');
    const verified = await verifyDomain(owner.browser, org.id, domain);
    expect(verified.statusCode, verified.body).toBe(200);
    expect(verified.json()).toMatchObject({ domain, status: 'verified' });
    const created = await owner.browser.post(
      '/v1/sso/connections',
      {
        kind: 'oidc',
        name: 'Acme IdP',
        defaultRole: 'viewer',
        roleMappings: [
          { value: 'engineers', role: 'member' },
          { value: 'admins', role: 'admin' },
        ],
        oidc: {
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          groupsClaim: 'groups',
        },
      },
      inOrg(org.id),
    );
    expect(created.statusCode, created.body).toBe(201);
    const conn = created.json<{ id: string; oidc: Record<string, unknown> }>();
    expect(conn.oidc).toMatchObject({ issuer: idp.issuer, clientSecretSet: true });
    expect(created.body).not.toContain(idp.clientSecret);
    connectionId = conn.id;
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await stopApp(c);
  });

  /** Discovery → IdP → the callback URL the IdP sends the browser back to (path and query). */
  async function toCallback(b: Browser, email: string): Promise<string> {
    const d = await b.post('/v1/auth/sso/discover', { email, returnTo: '/welcome' });
    expect(d.statusCode, d.body).toBe(200);
    const at = await fetch(d.json<{ redirectUrl: string }>().redirectUrl, { redirect: 'manual' });
    expect(at.status).toBe(302);
    const back = new URL(at.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(`${ORIGIN}/v1/auth/sso/oidc/callback`);
    return `${back.pathname}${back.search}`;
  }

  async function signIn(
    user: { sub: string; email: string; groups?: string[]; email_verified?: boolean },
    tamper: Tamper = null,
  ) {
    idp.nextUser = { email_verified: true, ...user };
    idp.tamper = tamper;
    const b = new Browser(c);
    const res = await b.get(await toCallback(b, user.email));
    idp.tamper = null;
    return { b, res };
  }

  const refusedWith = (res: { statusCode: number; headers: Record<string, unknown> }, code: string) => {
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe(`${ORIGIN}/sign-in?sso_error=${code}`);
    expect(
      [(res.headers['set-cookie'] as string | string[] | undefined) ?? []].flat().join('\n'),
    ).not.toMatch(/sr_session=[^;]/);
  };

  it('signs a new user in: JIT user + active membership with the mapped role, session in the organization', async () => {
    const email = `alice-${randomBytes(3).toString('hex')}@${domain}`;
    const { b, res } = await signIn({ sub: `sub-${email}`, email, groups: ['engineers', 'admins'] });
    expect(res.statusCode, res.body).toBe(302);
    expect(res.headers.location).toBe(`${ORIGIN}/welcome`);
    expect(b.cookie).not.toBeNull();
    const me = await b.get('/v1/auth/me');
    expect(me.statusCode, me.body).toBe(200);
    expect(me.json()).toMatchObject({ user: { email, emailVerified: true }, currentOrganizationId: org.id });
    const userId = me.json<{ user: { id: string } }>().user.id;
    const m = await c.tenancy.withTenant(org.id, (db) =>
      db
        .selectFrom('memberships')
        .select(['role', 'status'])
        .where('organization_id', '=', org.id)
        .where('user_id', '=', userId)
        .executeTakeFirst(),
    );
    expect(m).toEqual({ role: 'admin', status: 'active' });
    // No Personal Organization: the user belongs to the SSO organization only.
    const orgs = await b.get('/v1/organizations');
    expect(orgs.json<{ data: { id: string }[] }>().data.map((o) => o.id)).toEqual([org.id]);
    // A later sign-in with other groups changes the role (the IdP is the source of roles).
    const again = await signIn({ sub: `sub-${email}`, email, groups: ['engineers'] });
    expect(again.res.headers.location).toBe(`${ORIGIN}/welcome`);
    const m2 = await c.tenancy.withTenant(org.id, (db) =>
      db
        .selectFrom('memberships')
        .select('role')
        .where('organization_id', '=', org.id)
        .where('user_id', '=', userId)
        .executeTakeFirst(),
    );
    expect(m2).toEqual({ role: 'member' });
    // Audited in the organization's chain.
    const audit = await owner.browser.get('/v1/audit-logs?limit=50', inOrg(org.id));
    const actions = audit.json<{ data: { action: string }[] }>().data.map((e) => e.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'user.provisioned',
        'member.joined',
        'sso.signed_in',
        'member.role_changed',
        'sso_connection.created',
        'sso_domain.verified',
      ]),
    );
  });

  it.each([
    ['issuer', 'an ID token from another issuer'],
    ['audience', 'an ID token for another client'],
    ['nonce', 'an ID token whose nonce is not the flow’s'],
    ['expired', 'an expired ID token'],
    ['alg-none', 'an unsigned (alg: none) ID token'],
    ['other-key', 'an ID token signed by a key not in the IdP’s JWKS'],
  ] as const)('refuses %s (%s)', async (tamper, _why) => {
    const email = `t-${randomBytes(3).toString('hex')}@${domain}`;
    const { b, res } = await signIn({ sub: `s-${email}`, email }, tamper);
    refusedWith(res, 'SSO_IDP_RESPONSE_INVALID');
    expect(b.cookie).toBeNull();
  });

  it('refuses a replayed callback (same code and state), even when the IdP would answer the code again', async () => {
    idp.allowCodeReplay = true;
    try {
      const email = `r-${randomBytes(3).toString('hex')}@${domain}`;
      idp.nextUser = { sub: `s-${email}`, email, email_verified: true };
      const b = new Browser(c);
      const cb = await toCallback(b, email);
      const replay = new Browser(c);
      replay.ssoFlow = b.ssoFlow; // even with the starting browser's flow cookie
      expect((await b.get(cb)).headers.location).toBe(`${ORIGIN}/welcome`);
      refusedWith(await replay.get(cb), 'SSO_FLOW_INVALID');
    } finally {
      idp.allowCodeReplay = false;
    }
  });

  it('login CSRF: a flow started in one browser cannot be finished in another', async () => {
    const email = `csrf-${randomBytes(3).toString('hex')}@${domain}`;
    idp.nextUser = { sub: `s-${email}`, email, email_verified: true };
    // The attacker starts a sign-in to their own account and has the victim's browser open the callback.
    const attacker = new Browser(c);
    const cb = await toCallback(attacker, email);
    expect(attacker.ssoFlow).not.toBeNull();
    const victim = new Browser(c);
    const res = await victim.get(cb);
    refusedWith(res, 'SSO_FLOW_INVALID');
    expect(victim.cookie).toBeNull();
    // A forged flow cookie does not help either.
    victim.ssoFlow = 'y'.repeat(43);
    refusedWith(await victim.get(cb), 'SSO_FLOW_INVALID');
    expect(victim.cookie).toBeNull();
  });

  it('the flow cookie: HttpOnly, SameSite=Lax, only under /v1/auth/sso', async () => {
    const email = `fc-${randomBytes(3).toString('hex')}@${domain}`;
    const d = await new Browser(c).post('/v1/auth/sso/discover', { email });
    const line = String(d.headers['set-cookie']);
    expect(line).toMatch(/^sr_sso=[A-Za-z0-9_-]{43};/);
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Lax/i);
    expect(line).toMatch(/Path=\/v1\/auth\/sso(;|$)/);
  });

  it('discovery and start are throttled per client address', async () => {
    const from = (remoteAddress: string, url: string, payload?: object) =>
      c.app.inject({
        method: payload ? 'POST' : 'GET',
        url,
        remoteAddress,
        headers: { origin: ORIGIN },
        ...(payload ? { payload } : {}),
      });
    const email = `t-${randomBytes(3).toString('hex')}@${domain}`;
    for (let i = 0; i < 30; i++) {
      const r = await from('203.0.113.9', '/v1/auth/sso/discover', { email });
      expect(r.statusCode, r.body).toBe(200);
    }
    const over = await from('203.0.113.9', '/v1/auth/sso/discover', { email });
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: { code: 'AUTH_THROTTLED' } });
    expect(over.headers['retry-after']).toBeDefined();
    expect((await from('203.0.113.9', `/v1/auth/sso/start?organization=${org.slug}`)).statusCode).toBe(429);
    // Another address has its own budget.
    expect((await from('203.0.113.10', '/v1/auth/sso/discover', { email })).statusCode).toBe(200);
  });

  it('JIT takes a seat like an invitation: refused at the seat limit, and while the organization is suspended', async () => {
    const su = await connect(testDb().adminUrl);
    const plan = `sso-seats-${randomBytes(3).toString('hex')}`;
    const before = (
      await su.query<{ plan: string }>('select plan from organizations where id = $1', [org.id])
    ).rows[0]!.plan;
    try {
      // A plan whose every seat is in use.
      await su.query(
        `insert into plans (key, name, seat_limit, quotas, price, entitlements, public)
         select $1, 'Seats', (select count(*) from memberships where organization_id = $2 and status = 'active')::int,
                quotas, price, entitlements, false from plans where key = $3`,
        [plan, org.id, before],
      );
      await su.query('update organizations set plan = $1 where id = $2', [plan, org.id]);
      const e1 = `seat-${randomBytes(3).toString('hex')}@${domain}`;
      const full = await signIn({ sub: `s-${e1}`, email: e1 });
      refusedWith(full.res, 'SEAT_LIMIT_REACHED');
      expect(full.b.cookie).toBeNull();
      await su.query('update organizations set plan = $1 where id = $2', [before, org.id]);

      // Suspended between the start and the callback (discovery already refuses a suspended organization).
      const e2 = `susp-${randomBytes(3).toString('hex')}@${domain}`;
      idp.nextUser = { sub: `s-${e2}`, email: e2, email_verified: true };
      const b2 = new Browser(c);
      const cb = await toCallback(b2, e2);
      await su.query(
        `update organizations set lifecycle_state = 'suspended', suspension_reason = 'admin', suspended_at = now()
         where id = $1`,
        [org.id],
      );
      c.services.organizationPolicies.invalidate(org.id);
      refusedWith(await b2.get(cb), 'SSO_ORGANIZATION_UNAVAILABLE');
      expect(b2.cookie).toBeNull();
      const m = await c.tenancy.withTenant(org.id, (db) =>
        db
          .selectFrom('memberships')
          .innerJoin('users', 'users.id', 'memberships.user_id')
          .select('memberships.status')
          .where('memberships.organization_id', '=', org.id)
          .where('users.email_normalized', 'in', [e1, e2])
          .execute(),
      );
      expect(m).toEqual([]);
    } finally {
      await su.query(
        `update organizations set plan = $1, lifecycle_state = 'active', suspension_reason = null, suspended_at = null
         where id = $2`,
        [before, org.id],
      );
      c.services.organizationPolicies.invalidate(org.id);
      await su.query('delete from plans where key = $1', [plan]);
      await su.end();
    }
  });

  it('refuses a callback with a bad or absent state', async () => {
    const email = `st-${randomBytes(3).toString('hex')}@${domain}`;
    idp.nextUser = { sub: `s-${email}`, email, email_verified: true };
    const b = new Browser(c);
    const cb = new URL(await toCallback(b, email), ORIGIN);
    const code = cb.searchParams.get('code')!;
    refusedWith(
      await b.get(`/v1/auth/sso/oidc/callback?code=${code}&state=${'x'.repeat(43)}`),
      'SSO_FLOW_INVALID',
    );
    refusedWith(await b.get(`/v1/auth/sso/oidc/callback?code=${code}`), 'SSO_FLOW_INVALID');
  });

  it('refuses an address the IdP does not state verified, and one outside the verified domains', async () => {
    const e1 = `nv-${randomBytes(3).toString('hex')}@${domain}`;
    refusedWith(
      (await signIn({ sub: `s-${e1}`, email: e1, email_verified: false })).res,
      'SSO_EMAIL_NOT_VERIFIED',
    );
    // The IdP of this organization asserting an address of a domain it does not own.
    idp.nextUser = {
      sub: 'outsider',
      email: `x@elsewhere-${randomBytes(3).toString('hex')}.test`,
      email_verified: true,
    };
    const b = new Browser(c);
    const cb = await toCallback(b, `probe@${domain}`);
    refusedWith(await b.get(cb), 'SSO_EMAIL_DOMAIN_NOT_ALLOWED');
  });

  it('cross-tenant: a domain verified by one organization cannot be verified by another, and A’s IdP never signs into B', async () => {
    const ownerB = await signUpAs(c, `boss-${randomBytes(3).toString('hex')}@example.com`);
    const orgB = await createOrg(ownerB.browser, 'ssob');
    // B claims A's domain: it can add it, never verify it (the global lookup's primary key).
    const taken = await verifyDomain(ownerB.browser, orgB.id, domain);
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: 'SSO_DOMAIN_TAKEN' } });
    // B's own domain, verified; A's IdP asserting an address there is refused.
    const domainB = `beta-${randomBytes(4).toString('hex')}.test`;
    expect((await verifyDomain(ownerB.browser, orgB.id, domainB)).statusCode).toBe(200);
    idp.nextUser = { sub: 'b-user', email: `victim@${domainB}`, email_verified: true };
    const b = new Browser(c);
    refusedWith(await b.get(await toCallback(b, `probe@${domain}`)), 'SSO_EMAIL_DOMAIN_NOT_ALLOWED');
    // A's connection is not B's: 404 from B, like one that does not exist.
    const other = await ownerB.browser.get(`/v1/sso/connections/${connectionId}`, inOrg(orgB.id));
    expect(other.statusCode).toBe(404);
    expect(other.json()).toMatchObject({ error: { code: 'SSO_CONNECTION_NOT_FOUND' } });
    // Public mail domains are refused outright.
    const gmail = await ownerB.browser.post('/v1/sso/domains', { domain: 'gmail.com' }, inOrg(orgB.id));
    expect(gmail.json()).toMatchObject({ error: { code: 'SSO_DOMAIN_PUBLIC' } });
  });

  it('require-SSO refuses the password sign-in of a member, not of an owner (break-glass)', async () => {
    const member = await signUpAs(c, `m-${randomBytes(3).toString('hex')}@${domain}`);
    await c.tenancy.withTenant(org.id, (db) =>
      db
        .insertInto('memberships')
        .values({ organization_id: org.id, user_id: member.userId, role: 'member', status: 'active' })
        .execute(),
    );
    const on = await owner.browser.put('/v1/sso/settings', { requireSso: true }, inOrg(org.id));
    expect(on.statusCode, on.body).toBe(200);
    try {
      const refused = await new Browser(c).post('/v1/auth/login', {
        email: member.email,
        password: member.password,
      });
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toMatchObject({
        error: { code: 'SSO_REQUIRED', details: { organization: org.slug } },
      });
      const ownerLogin = await new Browser(c).post('/v1/auth/login', {
        email: owner.email,
        password: owner.password,
      });
      expect(ownerLogin.statusCode, ownerLogin.body).toBe(200);
    } finally {
      await owner.browser.put('/v1/sso/settings', { requireSso: false }, inOrg(org.id));
    }
    const after = await new Browser(c).post('/v1/auth/login', {
      email: member.email,
      password: member.password,
    });
    expect(after.statusCode).toBe(200);
  });

  it('deactivating the connection revokes its sessions at once; start by organization slug works', async () => {
    const email = `d-${randomBytes(3).toString('hex')}@${domain}`;
    const { b } = await signIn({ sub: `s-${email}`, email });
    expect((await b.get('/v1/auth/me')).statusCode).toBe(200);
    const off = await owner.browser.patch(
      `/v1/sso/connections/${connectionId}`,
      { status: 'inactive' },
      inOrg(org.id),
    );
    expect(off.statusCode, off.body).toBe(200);
    expect((await b.get('/v1/auth/me')).statusCode).toBe(401);
    // Inactive: no discovery, no start.
    expect((await new Browser(c).post('/v1/auth/sso/discover', { email })).statusCode).toBe(404);
    await owner.browser.patch(`/v1/sso/connections/${connectionId}`, { status: 'active' }, inOrg(org.id));
    const start = await new Browser(c).get(`/v1/auth/sso/start?organization=${org.slug}`);
    expect(start.statusCode).toBe(302);
    expect(String(start.headers.location)).toContain(`${idp.issuer}/authorize?`);
    expect(String(start.headers.location)).toContain('code_challenge_method=S256');
  });

  it('re-verification: a verified domain whose TXT record is gone 3 times in a row is unverified (and released)', async () => {
    const ownerC = await signUpAs(c, `c-${randomBytes(3).toString('hex')}@example.com`);
    const orgC = await createOrg(ownerC.browser, 'ssoc');
    const d = `gone-${randomBytes(4).toString('hex')}.test`;
    expect((await verifyDomain(ownerC.browser, orgC.id, d)).statusCode).toBe(200);
    const ctx = systemCtx(orgC.id, 'sso.domain-recheck');
    expect(await c.services.sso.domains.recheck(ctx)).toEqual({ checked: 1, lost: [] });
    txt.delete(`_saasready-verification.${d}`);
    expect(await c.services.sso.domains.recheck(ctx)).toEqual({ checked: 1, lost: [] });
    expect(await c.services.sso.domains.recheck(ctx)).toEqual({ checked: 1, lost: [] });
    // The third failure through the scheduled job's path: the worker role's scan finds the organization.
    const workerPool = new pg.Pool({ connectionString: testDb().workerUrl, max: 1 });
    try {
      const r = await recheckVerifiedDomains({ workerPool, domains: c.services.sso.domains });
      expect(r.organizations).toBeGreaterThanOrEqual(2);
      expect(r.lost).toBeGreaterThanOrEqual(1);
    } finally {
      await workerPool.end();
    }
    const list = await ownerC.browser.get('/v1/sso/domains', inOrg(orgC.id));
    expect(list.json()).toMatchObject({ data: [{ domain: d, status: 'pending' }] });
    // Released: another organization may verify it now.
    expect((await verifyDomain(owner.browser, org.id, d)).statusCode).toBe(200);
  });

  it('the connections API: list (paginated), test connection, write-only secret, owner never mapped', async () => {
    const list = await owner.browser.get('/v1/sso/connections?limit=1', inOrg(org.id));
    expect(list.statusCode).toBe(200);
    expect(list.json()).toMatchObject({ data: [{ id: connectionId }] });
    const test = await owner.browser.post(`/v1/sso/connections/${connectionId}/test`, {}, inOrg(org.id));
    expect(test.json()).toMatchObject({
      ok: true,
      kind: 'oidc',
      oidc: { issuer: idp.issuer, idTokenSigningAlgs: ['RS256'] },
    });
    const ownerMapping = await owner.browser.patch(
      `/v1/sso/connections/${connectionId}`,
      { roleMappings: [{ value: 'root', role: 'owner' }] },
      inOrg(org.id),
    );
    expect(ownerMapping.statusCode).toBe(400);
    const badIssuer = await owner.browser.post(
      '/v1/sso/connections',
      { kind: 'oidc', name: 'x', oidc: { issuer: 'http://127.0.0.1:1', clientId: 'x' } },
      inOrg(org.id),
    );
    expect(badIssuer.json()).toMatchObject({ error: { code: 'SSO_DISCOVERY_FAILED' } });
  });
});
