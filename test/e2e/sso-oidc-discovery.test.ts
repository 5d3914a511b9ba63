/**
 * OIDC discovery is cached per connection (docs/sso.md "OIDC"): sign-ins reuse the discovered
 * configuration, an update or a deletion of the connection drops it, a failed discovery is not kept.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, ORIGIN, inOrg, startApp, stopApp, type E2eApp } from './helpers.js';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import { enterpriseOrg, fakeDns, verifiedAccount } from './sso-helpers.js';

const { txt, resolveTxt } = fakeDns();

describe('OIDC discovery cache', () => {
  let c: E2eApp;
  let idp: FakeIdp;
  let owner: Browser;
  let org: { id: string; slug: string };
  let domain: string;
  let connectionId: string;

  beforeAll(async () => {
    c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt } });
    idp = await startFakeIdp();
    domain = `cache-${randomBytes(4).toString('hex')}.test`;
    owner = (await verifiedAccount(c, `owner@${domain}`)).browser;
    org = await enterpriseOrg(owner, 'cache');
    const added = await owner.post('/v1/sso/domains', { domain }, inOrg(org.id));
    const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
    txt.set(rec.name, rec.value);
    expect((await owner.post(`/v1/sso/domains/${domain}/verify`, {}, inOrg(org.id))).statusCode).toBe(200);
    const created = await owner.post(
      '/v1/sso/connections',
      {
        kind: 'oidc',
        name: 'Cached IdP',
        oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
      },
      inOrg(org.id),
    );
    expect(created.statusCode, created.body).toBe(201);
    connectionId = created.json<{ id: string }>().id;
  }, 60_000);
  afterAll(async () => {
    await idp?.close();
    await stopApp(c);
  });

  /** A whole sign-in: discovery → start → IdP → callback; answers the callback's answer. */
  async function signIn() {
    const email = `u-${randomBytes(3).toString('hex')}@${domain}`;
    idp.nextUser = { sub: `sub-${email}`, email, email_verified: true };
    const b = new Browser(c);
    const d = await b.post('/v1/auth/sso/discover', { email });
    if (d.statusCode !== 200) return d;
    const at = await fetch(d.json<{ redirectUrl: string }>().redirectUrl, { redirect: 'manual' });
    const back = new URL(at.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe(`${ORIGIN}/v1/auth/sso/oidc/callback`);
    return b.get(`${back.pathname}${back.search}`);
  }

  it('two sign-ins discover once; an update of the connection discovers again', async () => {
    const before = idp.discoveries;
    for (let i = 0; i < 2; i++) {
      const res = await signIn();
      expect(res.statusCode, res.body).toBe(302);
      expect(res.headers.location).toBe(`${ORIGIN}/`);
    }
    expect(idp.discoveries - before).toBe(1);

    const renamed = await owner.patch(
      `/v1/sso/connections/${connectionId}`,
      { name: 'Renamed IdP' },
      inOrg(org.id),
    );
    expect(renamed.statusCode, renamed.body).toBe(200);
    const afterUpdate = idp.discoveries;
    expect((await signIn()).statusCode).toBe(302);
    expect((await signIn()).statusCode).toBe(302);
    expect(idp.discoveries - afterUpdate).toBe(1);
  });

  it('a new client secret is a new configuration; a failed discovery is not kept', async () => {
    const secret = await owner.patch(
      `/v1/sso/connections/${connectionId}`,
      { oidc: { clientSecret: idp.clientSecret } },
      inOrg(org.id),
    );
    expect(secret.statusCode, secret.body).toBe(200);
    const before = idp.discoveries;
    expect((await signIn()).statusCode).toBe(302);
    expect(idp.discoveries - before).toBe(1);

    // Discovery fails once: nothing is kept, the next sign-in discovers again and succeeds.
    await owner.patch(`/v1/sso/connections/${connectionId}`, { name: 'Flaky IdP' }, inOrg(org.id));
    idp.failDiscovery = true;
    const failed = await signIn();
    idp.failDiscovery = false;
    expect(failed.statusCode).toBeGreaterThanOrEqual(400);
    const recovered = idp.discoveries;
    expect((await signIn()).statusCode).toBe(302);
    expect(idp.discoveries - recovered).toBe(1);
  });
});
