import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildTestApp } from '../support/app.js';
import { connect, testDb } from '../support/tenancy.js';
import type { Composition } from '../../src/app/compose.js';
import { signUpAndVerify } from '../../src/modules/auth/auth.test-helpers.js';

const ORIGIN = { origin: 'http://app.saasready.test' };
const cookieOf = (res: { headers: Record<string, unknown> }) =>
  String([res.headers['set-cookie']].flat()[0]).split(';')[0]!;

/**
 * Two server instances on one database and one Redis: a flag definition, override or organization plan
 * changed through instance A changes `GET /v1/flags` on instance B at once, although B had the answer
 * cached.
 */
describe('feature flag cache invalidation across instances (Redis pub/sub)', () => {
  let a: Composition;
  let b: Composition;
  let adminCookie: string;
  let ownerCookie: string;
  let orgId: string;
  const flag = `mi-${randomBytes(4).toString('hex')}.beta`;

  const register = async (c: Composition) => {
    const u = await signUpAndVerify(
      { app: c.app, auth: c.services.auth },
      {
        email: `flags-mi-${randomBytes(5).toString('hex')}@example.test`,
        password: `a long enough passphrase ${randomBytes(4).toString('hex')}`,
        headers: ORIGIN,
      },
    );
    return {
      email: u.email,
      password: u.password,
      userId: u.userId,
      orgId: u.orgId,
      cookie: `sr_session=${u.token}`,
    };
  };
  const onA = (method: 'POST' | 'PATCH' | 'PUT', url: string, cookie: string, payload: object) =>
    a.app.inject({ method, url, headers: { ...ORIGIN, cookie }, payload });
  const seenOnB = async () => {
    const res = await b.app.inject({ url: '/v1/flags', headers: { cookie: ownerCookie } });
    expect(res.statusCode, res.body).toBe(200);
    return res
      .json<{ details: { key: string; value: unknown; reason: string }[] }>()
      .details.find((d) => d.key === flag);
  };
  /** B's answer, polled for up to 2 s (the broadcast is asynchronous, though usually immediate). */
  const eventuallyOnB = async (expected: { value: unknown; reason: string }) => {
    const deadline = Date.now() + 2000;
    let got = await seenOnB();
    while ((got?.value !== expected.value || got?.reason !== expected.reason) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      got = await seenOnB();
    }
    expect(got).toEqual({ key: flag, ...expected });
  };

  beforeAll(async () => {
    const redisUrl = inject('redisUrl');
    a = await buildTestApp({ redisUrl });
    b = await buildTestApp({ redisUrl });
    const admin = await register(a);
    const dbOwner = await connect(testDb().migrationUrl);
    try {
      await dbOwner.query('update users set is_platform_admin = true where id = $1', [admin.userId]);
    } finally {
      await dbOwner.end();
    }
    const login = await a.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: ORIGIN,
      payload: { email: admin.email, password: admin.password },
    });
    expect(login.statusCode).toBe(200);
    adminCookie = cookieOf(login);
    const owner = await register(a);
    ownerCookie = owner.cookie;
    orgId = owner.orgId;
  });
  afterAll(async () => {
    for (const c of [a, b]) {
      await c.app.close();
      await c.close();
    }
  });

  it('definition, kill switch, override and plan changes on A are seen by B at once', async () => {
    const created = await onA('POST', '/v1/platform/flags', adminCookie, {
      key: flag,
      kind: 'boolean',
      defaultValue: false,
      allowOrgOverride: true,
      rules: [{ plans: ['enterprise'], value: true }],
    });
    expect(created.statusCode, created.body).toBe(201);
    await eventuallyOnB({ value: false, reason: 'default' }); // cached on B now

    const plan = await onA('PATCH', `/v1/platform/organizations/${orgId}`, adminCookie, {
      plan: 'enterprise',
    });
    expect(plan.statusCode, plan.body).toBe(200);
    await eventuallyOnB({ value: true, reason: 'rule' });

    const override = await onA('PUT', `/v1/flags/${flag}/override`, ownerCookie, { value: false });
    expect(override.statusCode, override.body).toBe(200);
    await eventuallyOnB({ value: false, reason: 'override' });

    const kill = await onA('PATCH', `/v1/platform/flags/${flag}`, adminCookie, { killed: true });
    expect(kill.statusCode, kill.body).toBe(200);
    await eventuallyOnB({ value: false, reason: 'killed' });
    await onA('PATCH', `/v1/platform/flags/${flag}`, adminCookie, { killed: false, allowOrgOverride: false });
    await eventuallyOnB({ value: true, reason: 'rule' });
  });
  it('a plan change by the owner and a change of the plan catalog on A reach the entitlements B evaluates', async () => {
    const flag2 = `${flag}-entitled`;
    const planKey = `mi-${randomBytes(4).toString('hex')}`;
    const detailOnB = async () => {
      const res = await b.app.inject({ url: '/v1/flags', headers: { cookie: ownerCookie } });
      expect(res.statusCode, res.body).toBe(200);
      return res
        .json<{ details: { key: string; value: unknown; reason: string }[] }>()
        .details.find((d) => d.key === flag2);
    };
    const eventually = async (expected: { value: unknown; reason: string }) => {
      const deadline = Date.now() + 2000;
      let got = await detailOnB();
      while ((got?.value !== expected.value || got?.reason !== expected.reason) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
        got = await detailOnB();
      }
      expect(got).toEqual({ key: flag2, ...expected });
    };
    const created = await onA('POST', '/v1/platform/flags', adminCookie, {
      key: flag2,
      kind: 'boolean',
      defaultValue: false,
    });
    expect(created.statusCode, created.body).toBe(201);
    const plan = await onA('POST', '/v1/platform/plans', adminCookie, {
      key: planKey,
      name: 'Entitled',
      price: { currency: 'USD', interval: 'month', components: [] },
      entitlements: [flag2],
      public: true,
    });
    expect(plan.statusCode, plan.body).toBe(201);
    await eventually({ value: false, reason: 'default' }); // cached on B now

    const moved = await onA('PUT', '/v1/billing/plan', ownerCookie, { plan: planKey });
    expect(moved.statusCode, moved.body).toBe(200);
    await eventually({ value: true, reason: 'entitlement' });

    const changed = await onA('PATCH', `/v1/platform/plans/${planKey}`, adminCookie, { entitlements: [] });
    expect(changed.statusCode, changed.body).toBe(200);
    await eventually({ value: false, reason: 'default' });
  });
});
