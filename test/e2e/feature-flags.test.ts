import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addNewMember,
  api,
  createOrg,
  inOrg,
  ORG_NOT_FOUND,
  signUp,
  signUpPlatformAdmin,
  startApp,
  stopApp,
  tokenPair,
  type Browser,
  type E2eApp,
  type User,
} from './helpers.js';

interface FlagsBody {
  flags: Record<string, unknown>;
  details: { key: string; value: unknown; reason: string; variant?: string }[];
}

/**
 * Feature flags through the full composition: platform administrators define flags, organization
 * admins override them where allowed, every member reads them all with `GET /v1/flags`, and every change
 * is seen on the very next request.
 */
describe('e2e: feature flags', () => {
  let c: E2eApp;
  let admin: User;
  let ownerA: User;
  let ownerB: User;
  let member: { browser: Browser; userId: string };
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  const run = randomBytes(4).toString('hex');
  const key = (name: string) => `e2e-${run}.${name}`;

  const flagsOf = async (who: Browser, orgId: string) => {
    const res = await who.get('/v1/flags', inOrg(orgId));
    expect(res.statusCode, res.body).toBe(200);
    return res.json<FlagsBody>();
  };
  const detail = async (who: Browser, orgId: string, k: string) =>
    (await flagsOf(who, orgId)).details.find((d) => d.key === k);
  const createFlag = async (body: Record<string, unknown>) => {
    const res = await admin.browser.post('/v1/platform/flags', body);
    expect(res.statusCode, res.body).toBe(201);
    return res.json<{ key: string; version: number }>();
  };

  beforeAll(async () => {
    c = await startApp();
    admin = await signUpPlatformAdmin(c);
    ownerA = await signUp(c, 'flags-a');
    ownerB = await signUp(c, 'flags-b');
    a = await createOrg(ownerA.browser, 'fla');
    b = await createOrg(ownerB.browser, 'flb');
    member = await addNewMember(ownerA.browser, a.id, 'member', 'flags-member');
    await createFlag({ key: key('beta'), kind: 'boolean', defaultValue: false, allowOrgOverride: true });
    await createFlag({
      key: key('theme'),
      kind: 'multivariate',
      variants: [
        { key: 'light', value: 'light' },
        { key: 'dark', value: { mode: 'dark', contrast: 2 } },
      ],
      defaultValue: 'light',
      rules: [{ plans: ['enterprise'], value: { mode: 'dark', contrast: 2 } }],
    });
  });
  afterAll(() => stopApp(c));

  it('only platform administrators define flags; organization owners get 403', async () => {
    const denied = await ownerA.browser.post(
      '/v1/platform/flags',
      { key: key('sneaky'), kind: 'boolean', defaultValue: true },
      inOrg(a.id),
    );
    expect(denied.statusCode).toBe(403);
    expect((await ownerA.browser.get('/v1/platform/flags')).statusCode).toBe(403);
    expect(
      (await ownerA.browser.patch(`/v1/platform/flags/${key('beta')}`, { killed: true })).statusCode,
    ).toBe(403);
    expect((await ownerA.browser.delete(`/v1/platform/flags/${key('beta')}`)).statusCode).toBe(403);
    expect(
      (await ownerA.browser.patch(`/v1/platform/organizations/${a.id}`, { plan: 'enterprise' })).statusCode,
    ).toBe(403);
    expect((await admin.browser.get(`/v1/platform/flags/${key('sneaky')}`)).statusCode).toBe(404);

    const got = await admin.browser.get(`/v1/platform/flags/${key('theme')}`);
    expect(got.json()).toMatchObject({
      key: key('theme'),
      kind: 'multivariate',
      version: 1,
      offValue: 'light',
    });
    const page = await admin.browser.get('/v1/platform/flags?limit=1');
    expect(page.json<{ data: unknown[]; nextCursor: string | null }>().data).toHaveLength(1);
  });

  it('definitions are validated: shapes by schema (400 VALIDATION_FAILED), the rest by the service', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ key: 'Bad Key', kind: 'boolean', defaultValue: true }, 'VALIDATION_FAILED', /^body\.key/],
      [{ key: key('x'), kind: 'boolean' }, 'VALIDATION_FAILED', /defaultValue/],
      [{ key: key('x'), kind: 'boolean', defaultValue: 1 }, 'FLAG_DEFINITION_INVALID', /^defaultValue/],
      [
        { key: key('x'), kind: 'boolean', defaultValue: false, rollout: { by: 'team', percentage: 5 } },
        'VALIDATION_FAILED',
        /^body\.rollout/,
      ],
      [
        {
          key: key('x'),
          kind: 'multivariate',
          variants: [
            { key: 'a', value: 'a' },
            { key: 'b', value: 'b' },
          ],
          defaultValue: 'a',
          rollout: {
            by: 'user',
            weights: [
              { value: 'a', weight: 60 },
              { value: 'b', weight: 30 },
            ],
          },
        },
        'FLAG_DEFINITION_INVALID',
        /add up to 100/,
      ],
    ];
    for (const [body, code, message] of cases) {
      const res = await admin.browser.post('/v1/platform/flags', body);
      expect(res.statusCode, res.body).toBe(400);
      const err = res.json<{ error: { code: string; message: string } }>().error;
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    }
    const taken = await admin.browser.post('/v1/platform/flags', {
      key: key('beta'),
      kind: 'boolean',
      defaultValue: true,
    });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: 'FLAG_KEY_TAKEN' } });
  });

  it('GET /v1/flags evaluates every flag for the organization and user in one call', async () => {
    const body = await flagsOf(member.browser, a.id);
    expect(body.flags[key('beta')]).toBe(false);
    expect(body.flags[key('theme')]).toBe('light');
    expect(body.details.find((d) => d.key === key('theme'))).toEqual({
      key: key('theme'),
      value: 'light',
      reason: 'default',
      variant: 'light',
    });
    // An API token reads them too.
    const { accessToken } = await tokenPair(ownerA.browser, a.id);
    const viaToken = await api(c, accessToken).get('/v1/flags');
    expect(viaToken.statusCode).toBe(200);
    expect(viaToken.json<FlagsBody>().flags[key('beta')]).toBe(false);
  });

  it('organization admins override where the flag allows it; members without flags:manage get 403', async () => {
    const set = await ownerA.browser.put(`/v1/flags/${key('beta')}/override`, { value: true }, inOrg(a.id));
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toMatchObject({
      flagKey: key('beta'),
      value: true,
      applied: true,
      updatedByUserId: ownerA.userId,
    });
    // Seen by every member on the very next request.
    expect(await detail(member.browser, a.id, key('beta'))).toEqual({
      key: key('beta'),
      value: true,
      reason: 'override',
    });

    const notAllowed = await ownerA.browser.put(
      `/v1/flags/${key('theme')}/override`,
      { value: 'light' },
      inOrg(a.id),
    );
    expect(notAllowed.statusCode).toBe(409);
    expect(notAllowed.json()).toMatchObject({ error: { code: 'FLAG_OVERRIDE_NOT_ALLOWED' } });
    const badValue = await ownerA.browser.put(
      `/v1/flags/${key('beta')}/override`,
      { value: 'yes' },
      inOrg(a.id),
    );
    expect(badValue.statusCode).toBe(400);
    expect(badValue.json()).toMatchObject({ error: { code: 'FLAG_OVERRIDE_VALUE_INVALID' } });
    const unknown = await ownerA.browser.put(
      `/v1/flags/${key('nope')}/override`,
      { value: true },
      inOrg(a.id),
    );
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: { code: 'FLAG_NOT_FOUND' } });
    const noBody = await ownerA.browser.put(`/v1/flags/${key('beta')}/override`, {}, inOrg(a.id));
    expect(noBody.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });

    for (const res of [
      await member.browser.put(`/v1/flags/${key('beta')}/override`, { value: false }, inOrg(a.id)),
      await member.browser.delete(`/v1/flags/${key('beta')}/override`, inOrg(a.id)),
      await member.browser.get('/v1/flags/overrides', inOrg(a.id)),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({
        error: { code: 'FORBIDDEN', message: 'missing permission flags:manage' },
      });
    }
    const list = await ownerA.browser.get('/v1/flags/overrides?limit=10', inOrg(a.id));
    expect(list.json()).toMatchObject({ data: [{ flagKey: key('beta'), value: true }], nextCursor: null });
  });

  it('cross-tenant: A’s override is invisible to B, and B can neither change nor delete it', async () => {
    expect((await flagsOf(ownerB.browser, b.id)).flags[key('beta')]).toBe(false);
    expect((await ownerB.browser.get('/v1/flags/overrides', inOrg(b.id))).json()).toEqual({
      data: [],
      nextCursor: null,
    });
    // B's delete addresses B's own (absent) override: the 404 of a flag that does not exist at all.
    const foreign = await ownerB.browser.delete(`/v1/flags/${key('beta')}/override`, inOrg(b.id));
    const absent = await ownerB.browser.delete(`/v1/flags/${key('nope')}/override`, inOrg(b.id));
    expect(foreign.statusCode).toBe(404);
    expect(foreign.body).toBe(absent.body);
    // B's PUT sets B's own value only.
    expect(
      (await ownerB.browser.put(`/v1/flags/${key('beta')}/override`, { value: false }, inOrg(b.id)))
        .statusCode,
    ).toBe(200);
    // Naming A: the 404 of a missing organization, on every flag route.
    for (const res of [
      await ownerB.browser.get('/v1/flags', inOrg(a.id)),
      await ownerB.browser.get('/v1/flags/overrides', inOrg(a.id)),
      await ownerB.browser.put(`/v1/flags/${key('beta')}/override`, { value: false }, inOrg(a.id)),
      await ownerB.browser.delete(`/v1/flags/${key('beta')}/override`, inOrg(a.id)),
      await ownerB.browser.get(`/v1/orgs/${a.slug}/flags`),
    ]) {
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual(ORG_NOT_FOUND);
    }
    expect((await flagsOf(member.browser, a.id)).flags[key('beta')]).toBe(true);
  });

  it('kill switch, plan targeting and rollouts change the answer on the very next request', async () => {
    const theme = key('theme');
    expect((await detail(member.browser, a.id, theme))?.value).toBe('light');
    const plan = await admin.browser.patch(`/v1/platform/organizations/${a.id}`, {
      plan: 'enterprise',
      attributes: { region: 'eu' },
    });
    expect(plan.statusCode, plan.body).toBe(200);
    expect(plan.json()).toMatchObject({ id: a.id, plan: 'enterprise', attributes: { region: 'eu' } });
    expect(await detail(member.browser, a.id, theme)).toEqual({
      key: theme,
      value: { mode: 'dark', contrast: 2 },
      reason: 'rule',
      variant: 'dark',
    });
    expect((await detail(ownerB.browser, b.id, theme))?.value).toBe('light');
    for (const [body, status] of [
      [{ attributes: { 'bad name': 1 } }, 400],
      [{ attributes: { region: { nested: true } } }, 400],
      [{}, 400],
    ] as const) {
      const res = await admin.browser.patch(`/v1/platform/organizations/${a.id}`, body);
      expect(res.statusCode, res.body).toBe(status);
      expect(res.json()).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
    const nowhere = await admin.browser.patch(
      '/v1/platform/organizations/00000000-0000-7000-8000-000000000000',
      {
        plan: 'pro',
      },
    );
    expect(nowhere.json()).toMatchObject({ error: { code: 'PLATFORM_ORGANIZATION_NOT_FOUND' } });

    const killed = await admin.browser.patch(`/v1/platform/flags/${key('beta')}`, { killed: true });
    expect(killed.json()).toMatchObject({ killed: true, version: 2 });
    expect(await detail(member.browser, a.id, key('beta'))).toEqual({
      key: key('beta'),
      value: false,
      reason: 'killed',
    });
    await admin.browser.patch(`/v1/platform/flags/${key('beta')}`, { killed: false });
    expect((await detail(member.browser, a.id, key('beta')))?.reason).toBe('override');

    // 100 % of organizations, then 0 %: every organization follows at once.
    await createFlag({
      key: key('wave'),
      kind: 'boolean',
      defaultValue: false,
      rollout: { by: 'organization', percentage: 100 },
    });
    expect(await detail(ownerB.browser, b.id, key('wave'))).toEqual({
      key: key('wave'),
      value: true,
      reason: 'rollout',
    });
    await admin.browser.patch(`/v1/platform/flags/${key('wave')}`, {
      rollout: { by: 'user', percentage: 0 },
    });
    expect((await detail(ownerB.browser, b.id, key('wave')))?.value).toBe(false);

    const deleted = await admin.browser.delete(`/v1/platform/flags/${key('wave')}`);
    expect(deleted.statusCode).toBe(204);
    expect((await flagsOf(ownerB.browser, b.id)).flags).not.toHaveProperty(key('wave'));
  });
});
