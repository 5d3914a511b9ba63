/**
 * A full OIDC sign-in against a real OpenID provider (`oidc-provider`, in process, on loopback), browser-free:
 * an HTTP client following redirects with a cookie jar. Login and consent at the provider are completed by
 * a tiny interaction handler (no dev interactions): it signs `jane` in and grants the requested scopes.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, ORIGIN, createOrg, inOrg, signUp, startApp, stopApp, type E2eApp } from './helpers.js';

describe('OIDC sign-in against oidc-provider', () => {
  let c: E2eApp;
  let server: Server;
  let issuer: string;
  const domain = `op-${randomBytes(4).toString('hex')}.test`;
  const email = `jane@${domain}`;
  const clientId = 'saasready-test';
  const clientSecret = randomBytes(24).toString('hex');
  const txt = new Map<string, string>();

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const provider = new Provider(issuer, {
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'op-1', alg: 'RS256', use: 'sig' }] },
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [`${ORIGIN}/v1/auth/sso/oidc/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
      findAccount: (_ctx, id) => ({
        accountId: id,
        claims: () => ({ sub: id, email, email_verified: true, name: 'Jane' }),
      }),
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false } },
      pkce: { required: () => true },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      cookies: { keys: [randomBytes(16).toString('hex')] },
    });
    const callback = provider.callback();
    server.on('request', (req, res) => {
      if (!req.url?.startsWith('/interaction/')) {
        void callback(req, res);
        return;
      }
      void (async () => {
        const details = await provider.interactionDetails(req, res);
        if (details.prompt.name === 'login') {
          await provider.interactionFinished(
            req,
            res,
            { login: { accountId: 'jane' } },
            { mergeWithLastSubmission: false },
          );
          return;
        }
        const grant = new provider.Grant({ accountId: 'jane', clientId });
        grant.addOIDCScope('openid email profile');
        await provider.interactionFinished(
          req,
          res,
          { consent: { grantId: await grant.save() } },
          { mergeWithLastSubmission: true },
        );
      })().catch(() => res.writeHead(500).end());
    });

    c = await startApp({
      sso: {
        allowHttpIssuers: true,
        resolveTxt: async (n) => {
          const v = txt.get(n);
          if (v === undefined) throw new Error('ENOTFOUND');
          return [[v]];
        },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('discovery → provider (login, consent) → callback → a session in the organization', async () => {
    const owner = await signUp(c, 'op-owner');
    const org = await createOrg(owner.browser, 'op');
    const added = await owner.browser.post('/v1/sso/domains', { domain }, inOrg(org.id));
    const rec = added.json<{ txtRecord: { name: string; value: string } }>().txtRecord;
    txt.set(rec.name, rec.value);
    expect((await owner.browser.post(`/v1/sso/domains/${domain}/verify`, {}, inOrg(org.id))).statusCode).toBe(
      200,
    );
    const conn = await owner.browser.post(
      '/v1/sso/connections',
      { kind: 'oidc', name: 'op', oidc: { issuer, clientId, clientSecret } },
      inOrg(org.id),
    );
    expect(conn.statusCode, conn.body).toBe(201);

    const b = new Browser(c);
    const d = await b.post('/v1/auth/sso/discover', { email });
    expect(d.statusCode, d.body).toBe(200);
    // Follow the provider's redirects with a cookie jar until it sends the browser back to us.
    const jar = new Map<string, string>();
    let url = d.json<{ redirectUrl: string }>().redirectUrl;
    for (let i = 0; i < 10 && url.startsWith(issuer); i++) {
      const res = await fetch(url, {
        redirect: 'manual',
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      for (const line of res.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const at = pair!.indexOf('=');
        jar.set(pair!.slice(0, at), pair!.slice(at + 1));
      }
      url = new URL(res.headers.get('location') ?? '', url).href;
    }
    expect(url.startsWith(`${ORIGIN}/v1/auth/sso/oidc/callback?`)).toBe(true);
    const back = new URL(url);
    const done = await b.get(`${back.pathname}${back.search}`);
    expect(done.statusCode).toBe(302);
    expect(done.headers.location).toBe(`${ORIGIN}/`);
    const me = await b.get('/v1/auth/me');
    expect(me.json()).toMatchObject({ user: { email }, currentOrganizationId: org.id });
    // The same callback again: refused (the flow was consumed).
    const again = await new Browser(c).get(`${back.pathname}${back.search}`);
    expect(again.headers.location).toBe(`${ORIGIN}/sign-in?sso_error=SSO_FLOW_INVALID`);
  });
});
