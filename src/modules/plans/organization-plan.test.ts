import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  Browser,
  createOrg,
  inOrg,
  invite,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  uniqueEmail,
  type E2eApp,
  type User,
} from '../../../test/e2e/helpers.js';
import { auditEvents } from '../../../test/support/audit.js';
import { createInvitationsService } from '../invitations/invitations.service.js';
import { rolePermissionsIn } from '../memberships/role-permissions.js';
import { seatCheck } from './seats.js';
import { FREE_PRICE } from '../../../test/support/polling.js';

const price = FREE_PRICE;

interface PlanView {
  plan: { key: string; seatLimit: number | null; entitlements: string[] };
  seats: { used: number; limit: number | null };
  available: { key: string }[];
}

/**
 * An organization's plan through the full composition: what owners and admins read, an owner's change
 * (audited, with its history row, idempotent, refused for unavailable plans and too few seats), the
 * platform administrator's change, seat limits on invitations and their acceptance (the race for the
 * last seat included), and entitlements in flag evaluation right after a plan change.
 */
describe('organization plan and seats', () => {
  let c: E2eApp;
  let admin: User;
  let owner: User;
  const run = randomBytes(4).toString('hex');
  const key = (name: string) => `o${run}-${name}`;

  const createPlan = async (body: Record<string, unknown>) => {
    const res = await admin.browser.post('/v1/platform/plans', { name: 'Test', price, ...body });
    expect(res.statusCode, res.body).toBe(201);
  };
  const planOf = async (orgId: string, who = owner.browser) => {
    const res = await who.get('/v1/billing/plan', inOrg(orgId));
    expect(res.statusCode, res.body).toBe(200);
    return res.json<PlanView>();
  };
  const history = (orgId: string) =>
    c.tenancy.withTenant(
      orgId,
      (db) =>
        db
          .selectFrom('organization_plan_changes')
          .select(['from_plan', 'to_plan', 'changed_by_user_id', 'via'])
          .where('organization_id', '=', orgId)
          .orderBy('id')
          .execute(),
      { mode: 'read' },
    );

  beforeAll(async () => {
    c = await startApp();
    admin = await signUpPlatformAdmin(c, 'op-admin');
    owner = await signUp(c, 'op-owner');
    await createPlan({ key: key('three'), seatLimit: 3, public: true });
    await createPlan({ key: key('two'), seatLimit: 2, public: true });
    await createPlan({ key: key('hidden'), seatLimit: 50, public: false });
    await createPlan({ key: key('old'), seatLimit: 50, public: true });
    expect((await admin.browser.post(`/v1/platform/plans/${key('old')}/archive`)).statusCode).toBe(200);
  });
  afterAll(() => stopApp(c));

  it('owners and admins read the plan, seats and available plans; members do not; only owners change it', async () => {
    const org = await createOrg(owner.browser, 'opr');
    const view = await planOf(org.id);
    expect(view.plan).toMatchObject({ key: 'free', seatLimit: 3 });
    expect(view.seats).toEqual({ used: 1, limit: 3 });
    const keys = view.available.map((p) => p.key);
    expect(keys).toEqual(expect.arrayContaining(['free', 'pro', key('three')]));
    expect(keys).not.toContain('enterprise');
    expect(keys).not.toContain(key('hidden'));
    expect(keys).not.toContain(key('old'));

    const adminMember = await addNewMember(owner.browser, org.id, 'admin', 'op-admin-m');
    const member = await addNewMember(owner.browser, org.id, 'member', 'op-member');
    expect((await planOf(org.id, adminMember.browser)).seats).toEqual({ used: 3, limit: 3 });
    const denied = await member.browser.get('/v1/billing/plan', inOrg(org.id));
    expect(denied.statusCode).toBe(403);
    const adminPut = await adminMember.browser.put('/v1/billing/plan', { plan: 'pro' }, inOrg(org.id));
    expect(adminPut.statusCode).toBe(403);
    expect((await planOf(org.id)).plan.key).toBe('free');
  });

  it('an owner’s change: immediate, audited with before/after, one history row; the same plan again writes nothing', async () => {
    const org = await createOrg(owner.browser, 'opc');
    const res = await owner.browser.put('/v1/billing/plan', { plan: 'pro' }, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<PlanView>()).toMatchObject({ plan: { key: 'pro', seatLimit: 20 }, seats: { limit: 20 } });
    const again = await owner.browser.put('/v1/billing/plan', { plan: 'pro' }, inOrg(org.id));
    expect(again.statusCode).toBe(200);
    expect(await history(org.id)).toEqual([
      { from_plan: 'free', to_plan: 'pro', changed_by_user_id: owner.userId, via: 'owner' },
    ]);
    const events = await auditEvents(c.tenancy.withTenant, org.id, 'organization.plan_changed');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      actor: { type: 'user', id: owner.userId },
      target: { type: 'organization', id: org.id },
      changes: { before: { plan: 'free' }, after: { plan: 'pro' } },
      metadata: { via: 'owner' },
    });
  });

  it('owners cannot choose a hidden, archived or unknown plan, nor one with fewer seats than in use', async () => {
    const org = await createOrg(owner.browser, 'opn');
    for (const plan of [key('hidden'), key('old'), 'enterprise', key('nothing')]) {
      const res = await owner.browser.put('/v1/billing/plan', { plan }, inOrg(org.id));
      expect({ plan, status: res.statusCode }).toEqual({ plan, status: 409 });
      expect(res.json()).toMatchObject({ error: { code: 'PLAN_NOT_AVAILABLE' } });
    }
    expect((await owner.browser.put('/v1/billing/plan', { plan: 'Bad!' }, inOrg(org.id))).statusCode).toBe(
      400,
    );
    await invite(owner.browser, org.id, uniqueEmail('op-seat'), 'member');
    await invite(owner.browser, org.id, uniqueEmail('op-seat'), 'member');
    const small = await owner.browser.put('/v1/billing/plan', { plan: key('two') }, inOrg(org.id));
    expect(small.statusCode).toBe(409);
    expect(small.json()).toMatchObject({
      error: { code: 'SEAT_LIMIT_REACHED', details: { limit: 2, used: 3 } },
    });
    expect(small.json<{ error: { message: string } }>().error.message).toMatch(/allows 2 seats/);
    expect(await history(org.id)).toEqual([]);
    expect((await planOf(org.id)).plan.key).toBe('free');
  });

  it('owners cannot move to a plan billed in another interval or currency (409); a platform administrator can', async () => {
    // Every plan in effect within a billing period shares its interval and currency (docs/billing.md):
    // an owner's change is immediate, mid-period, so it may not change either.
    const yearly = { ...price, interval: 'year' };
    const euro = { ...price, currency: 'EUR' };
    await createPlan({ key: key('yearly'), public: true, price: yearly });
    await createPlan({ key: key('euro'), public: true, price: euro });
    const org = await createOrg(owner.browser, 'opi');
    const byYear = await owner.browser.put('/v1/billing/plan', { plan: key('yearly') }, inOrg(org.id));
    expect(byYear.statusCode).toBe(409);
    expect(byYear.json()).toMatchObject({
      error: { code: 'PLAN_INTERVAL_CHANGE', details: { from: 'month', to: 'year' } },
    });
    const inEuro = await owner.browser.put('/v1/billing/plan', { plan: key('euro') }, inOrg(org.id));
    expect(inEuro.statusCode).toBe(409);
    expect(inEuro.json()).toMatchObject({
      error: { code: 'PLAN_CURRENCY_CHANGE', details: { from: 'USD', to: 'EUR' } },
    });
    expect(await history(org.id)).toEqual([]);
    const same = await owner.browser.put('/v1/billing/plan', { plan: key('three') }, inOrg(org.id));
    expect(same.statusCode, same.body).toBe(200);
    const byAdmin = await admin.browser.put(`/v1/platform/organizations/${org.id}/plan`, {
      plan: key('yearly'),
    });
    expect(byAdmin.statusCode, byAdmin.body).toBe(200);
  });

  it('a platform administrator sets any existing plan (audited as the administrator); owners of other orgs cannot', async () => {
    const org = await createOrg(owner.browser, 'opp');
    const put = (who: Browser, plan: string, id = org.id) =>
      who.put(`/v1/platform/organizations/${id}/plan`, { plan });
    expect((await put(owner.browser, 'enterprise')).statusCode).toBe(403);
    const res = await put(admin.browser, 'enterprise');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<PlanView>()).toMatchObject({ plan: { key: 'enterprise' }, seats: { limit: null } });
    expect((await put(admin.browser, key('nothing'))).statusCode).toBe(404);
    expect((await put(admin.browser, 'pro', '00000000-0000-7000-8000-000000000000')).statusCode).toBe(404);
    // The targeting PATCH goes the same way: an unknown plan is refused, a known one is a recorded change.
    const patched = await admin.browser.patch(`/v1/platform/organizations/${org.id}`, {
      plan: key('nothing'),
    });
    expect(patched.statusCode).toBe(400);
    expect(
      (await admin.browser.patch(`/v1/platform/organizations/${org.id}`, { plan: 'pro' })).statusCode,
    ).toBe(200);
    expect(await history(org.id)).toEqual([
      { from_plan: 'free', to_plan: 'enterprise', changed_by_user_id: admin.userId, via: 'platform' },
      { from_plan: 'enterprise', to_plan: 'pro', changed_by_user_id: admin.userId, via: 'platform' },
    ]);
    const events = await auditEvents(c.tenancy.withTenant, org.id, 'organization.plan_changed');
    expect(events.map((e) => [e.actor.id, e.metadata])).toEqual([
      [admin.userId, { via: 'platform' }],
      [admin.userId, { via: 'platform' }],
    ]);
  });

  it('seats: invitations beyond the limit are refused with 409 SEAT_LIMIT_REACHED naming the limit', async () => {
    const org = await createOrg(owner.browser, 'ops');
    expect(
      (await owner.browser.put('/v1/billing/plan', { plan: key('two') }, inOrg(org.id))).statusCode,
    ).toBe(200);
    const first = await invite(owner.browser, org.id, uniqueEmail('op-s1'), 'member');
    const refused = await owner.browser.post(
      '/v1/invitations',
      { email: uniqueEmail('op-s2'), role: 'member' },
      inOrg(org.id),
    );
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ error: { code: 'SEAT_LIMIT_REACHED', details: { limit: 2 } } });
    // A revoked invitation frees its seat.
    expect((await owner.browser.delete(`/v1/invitations/${first.id}`, inOrg(org.id))).statusCode).toBe(204);
    expect((await planOf(org.id)).seats).toEqual({ used: 1, limit: 2 });
    await invite(owner.browser, org.id, uniqueEmail('op-s3'), 'member');
  });

  it('two concurrent accepts for the last seat: exactly one wins (each holds its seat check open 300 ms)', async () => {
    const org = await createOrg(owner.browser, 'opr');
    expect(
      (await owner.browser.put('/v1/billing/plan', { plan: key('three') }, inOrg(org.id))).statusCode,
    ).toBe(200);
    const [ua, ub] = [await signUp(c, 'op-ra'), await signUp(c, 'op-rb')];
    const a = await invite(owner.browser, org.id, ua.email, 'member');
    const b = await invite(owner.browser, org.id, ub.email, 'member');
    // The platform moves the organization to two seats: one owner, two invitations in flight.
    const moved = await admin.browser.put(`/v1/platform/organizations/${org.id}/plan`, { plan: key('two') });
    expect(moved.statusCode, moved.body).toBe(200);
    // The real acceptance code, with a seat check that passes and then waits before its transaction goes
    // on: without the organization lock both checks would pass before either membership commits.
    const invitations = createInvitationsService({
      withTenant: c.tenancy.withTenant,
      invitationByToken: (hash) => c.tenancy.privileged.invitationByToken(hash),
      rolePermissions: rolePermissionsIn,
      membershipChanged: () => {},
      publicUrl: 'http://app.saasready.test',
      seats: {
        beforeInvite: seatCheck.beforeInvite,
        async beforeActivate(db, orgId) {
          await seatCheck.beforeActivate(db, orgId);
          await new Promise((r) => setTimeout(r, 300));
        },
      },
    });
    const results = await Promise.allSettled([
      invitations.accept(ua.userId, a.token),
      invitations.accept(ub.userId, b.token),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const loser = results.find((r) => r.status === 'rejected')!;
    expect(loser.reason).toMatchObject({ code: 'SEAT_LIMIT_REACHED', status: 409, details: { limit: 2 } });
    const active = await c.tenancy.withTenant(
      org.id,
      (db) =>
        db
          .selectFrom('memberships')
          .select('user_id')
          .where('organization_id', '=', org.id)
          .where('status', '=', 'active')
          .execute(),
      { mode: 'read' },
    );
    expect(active).toHaveLength(2);
    // Over HTTP, the loser's link now answers 409 naming the limit.
    const loserBrowser = results[0].status === 'rejected' ? ua.browser : ub.browser;
    const loserToken = results[0].status === 'rejected' ? a.token : b.token;
    const again = await loserBrowser.post('/v1/invitations/accept', { token: loserToken });
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json()).toMatchObject({ error: { code: 'SEAT_LIMIT_REACHED', details: { limit: 2 } } });
  });

  it('entitlements: a plan change turns its flags on at the very next evaluation (reason entitlement)', async () => {
    const org = await createOrg(owner.browser, 'ope');
    const flag = `op-${run}.insights`;
    const made = await admin.browser.post('/v1/platform/flags', {
      key: flag,
      kind: 'boolean',
      defaultValue: false,
      rules: [{ plans: ['free'], value: false }],
    });
    expect(made.statusCode, made.body).toBe(201);
    await createPlan({ key: key('ent'), public: true, entitlements: [flag] });
    const detail = async () => {
      const res = await owner.browser.get('/v1/flags', inOrg(org.id));
      expect(res.statusCode, res.body).toBe(200);
      return res
        .json<{ details: { key: string; reason: string; value: unknown }[] }>()
        .details.find((d) => d.key === flag);
    };
    expect(await detail()).toEqual({ key: flag, value: false, reason: 'rule' });
    expect(
      (await owner.browser.put('/v1/billing/plan', { plan: key('ent') }, inOrg(org.id))).statusCode,
    ).toBe(200);
    expect(await detail()).toEqual({ key: flag, value: true, reason: 'entitlement' });
    expect((await planOf(org.id)).plan.entitlements).toEqual([flag]);
    expect((await owner.browser.put('/v1/billing/plan', { plan: 'free' }, inOrg(org.id))).statusCode).toBe(
      200,
    );
    expect(await detail()).toEqual({ key: flag, value: false, reason: 'rule' });
  });
});
