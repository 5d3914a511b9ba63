import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeFor } from '../../src/modules/two-factor/two-factor.test-fixtures.js';
import {
  addNewMember,
  api,
  createOrg,
  createProject,
  enrollTotp,
  inOrg,
  logIn,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  tokenPair,
  type Browser,
  type E2eApp,
  type User,
} from './helpers.js';

const STEP = 30_000;

describe('e2e: organizations requiring two-factor authentication', () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let member: { browser: Browser; userId: string; email: string; password: string };
  let memberSecret: string;

  beforeAll(async () => {
    c = await startApp();
    owner = await signUp(c, 'owner');
    org = await createOrg(owner.browser, 'strict');
    await createProject(owner.browser, org.id, 'Vault');
    member = await addNewMember(owner.browser, org.id, 'member');
  });
  afterAll(() => stopApp(c));

  it('requiring it needs the owner to be enrolled; then members without TOTP get 403 ENROLLMENT_REQUIRED', async () => {
    const early = await owner.browser.put(
      '/v1/organization/two-factor-policy',
      { required: true },
      inOrg(org.id),
    );
    expect(early.statusCode).toBe(403);
    expect(early.json()).toMatchObject({ error: { code: 'TWO_FACTOR_ENROLLMENT_REQUIRED' } });

    await enrollTotp(owner.browser);
    const set = await owner.browser.put(
      '/v1/organization/two-factor-policy',
      { required: true },
      inOrg(org.id),
    );
    expect(set.statusCode, set.body).toBe(200);
    expect(set.json()).toEqual({ required: true });
    expect((await owner.browser.get('/v1/projects', inOrg(org.id))).statusCode).toBe(200);

    for (const res of [
      await member.browser.get('/v1/projects'),
      await member.browser.get('/v1/organization'),
      await member.browser.get(`/v1/orgs/${org.slug}/members`),
    ]) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'TWO_FACTOR_ENROLLMENT_REQUIRED' } });
    }
    // Routes without a tenant still work, so the member can enrol.
    expect((await member.browser.get('/v1/auth/me')).statusCode).toBe(200);
  });

  it('an API token does not bypass the requirement', async () => {
    const minted = await member.browser.post('/v1/auth/token', { organizationId: org.id });
    if (minted.statusCode === 200) {
      const { accessToken, refreshToken } = minted.json<{ accessToken: string; refreshToken: string }>();
      rememberSecret(refreshToken);
      const res = await api(c, accessToken).get('/v1/projects');
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ error: { code: 'TWO_FACTOR_ENROLLMENT_REQUIRED' } });
    } else {
      expect(minted.statusCode).toBe(403);
      expect(minted.json()).toMatchObject({ error: { code: 'TWO_FACTOR_ENROLLMENT_REQUIRED' } });
    }
  });

  it('after enrolling (code computed from the returned secret), access works', async () => {
    const before = member.browser.cookie;
    memberSecret = (await enrollTotp(member.browser)).secret;
    expect(member.browser.cookie).not.toBe(before);
    const res = await member.browser.get('/v1/projects');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json<{ data: { name: string }[] }>().data.map((p) => p.name)).toEqual(['Vault']);
    const { accessToken } = await tokenPair(member.browser, org.id);
    expect((await api(c, accessToken).get('/v1/projects')).statusCode).toBe(200);
  });

  it('a user with TOTP who logs in must verify: 401 TWO_FACTOR_REQUIRED until POST /v1/auth/two-factor/verify', async () => {
    const { browser, body } = await logIn(c, member.email, member.password);
    expect(body).toEqual({ twoFactorRequired: true });
    for (const res of [
      await browser.get('/v1/projects'),
      await browser.get('/v1/organizations'),
      await browser.post('/v1/auth/token', { organizationId: org.id }),
      await browser.post('/v1/session/switch', { organization: org.id }),
      await browser.post('/v1/auth/two-factor/disable', { code: '000000' }),
    ]) {
      expect(res.statusCode, res.body).toBe(401);
      expect(res.json()).toMatchObject({ error: { code: 'TWO_FACTOR_REQUIRED' } });
    }
    // An abandoned sign-in can be signed out without the code; its cookie is dead afterwards.
    const abandoned = (await logIn(c, member.email, member.password)).browser;
    const abandonedCookie = abandoned.clone();
    expect((await abandoned.post('/v1/auth/logout')).statusCode).toBe(204);
    expect(abandoned.cookie).toBeNull();
    const after = await abandonedCookie.post('/v1/auth/two-factor/verify', {
      code: codeFor(memberSecret, Date.now() + STEP),
    });
    expect(after.statusCode).toBe(401);
    expect(after.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });

    const wrong = await browser.post('/v1/auth/two-factor/verify', { code: '000000' });
    expect(wrong.statusCode).toBe(400);
    expect((await browser.get('/v1/projects')).statusCode).toBe(401);

    // The enrolment consumed the current step: a code of the next step is still inside the window.
    const pending = browser.cookie;
    const ok = await browser.post('/v1/auth/two-factor/verify', {
      code: codeFor(memberSecret, Date.now() + STEP),
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ method: 'totp' });
    expect(browser.cookie).not.toBe(pending);
    const res = await browser.get('/v1/projects');
    expect(res.statusCode, res.body).toBe(200);
    expect((await browser.get('/v1/organizations')).statusCode).toBe(200);
  });
});
