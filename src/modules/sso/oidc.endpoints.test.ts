import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEndpoints, createOidcProtocol } from './oidc.protocol.js';
import type { SsoConnectionForSignIn } from './sso.contract.js';

describe('OIDC discovered endpoints', () => {
  const good = {
    authorization_endpoint: 'https://idp.example.test/authorize',
    token_endpoint: 'https://idp.example.test/token',
    jwks_uri: 'https://idp.example.test/jwks',
  };

  it('takes https endpoints, and http ones only where http issuers are allowed', () => {
    expect(() => checkEndpoints(good, false)).not.toThrow();
    const http = { ...good, token_endpoint: 'http://idp.example.test/token' };
    expect(() => checkEndpoints(http, true)).not.toThrow();
    expect(() => checkEndpoints(http, false)).toThrow(
      expect.objectContaining({ code: 'SSO_DISCOVERY_FAILED', details: { field: 'token_endpoint' } }),
    );
  });

  it.each([
    ['authorization_endpoint', 'javascript:alert(1)//'],
    ['authorization_endpoint', 'data:text/html,hi'],
    ['authorization_endpoint', 'not a url'],
    ['jwks_uri', 'file:///etc/passwd'],
    ['userinfo_endpoint', 'ftp://idp.example.test/userinfo'],
    ['authorization_endpoint', undefined],
    ['token_endpoint', undefined],
  ])('refuses %s = %s (422 SSO_DISCOVERY_FAILED naming it)', (field, value) => {
    const metadata = { ...good, [field]: value };
    let err: unknown;
    try {
      checkEndpoints(metadata, true);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'SSO_DISCOVERY_FAILED', status: 422, details: { field } });
  });
});

describe('OIDC protocol with an IdP naming a javascript: authorization endpoint', () => {
  let server: Server;
  let issuer = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          req.url === '/.well-known/openid-configuration'
            ? {
                issuer,
                authorization_endpoint: 'javascript:alert(document.cookie)//',
                token_endpoint: `${issuer}/token`,
                jwks_uri: `${issuer}/jwks`,
                response_types_supported: ['code'],
              }
            : { keys: [] },
        ),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('refuses it at discovery and at a sign-in start (a connection stored before the check): 422, not a 500', async () => {
    const oidc = createOidcProtocol({ publicUrl: 'https://app.example.test', allowHttpIssuers: true });
    await expect(oidc.discover(issuer, 'client')).rejects.toMatchObject({
      code: 'SSO_DISCOVERY_FAILED',
      details: { field: 'authorization_endpoint' },
    });
    const connection = {
      id: '00000000-0000-4000-8000-000000000001',
      organizationId: '00000000-0000-4000-8000-000000000002',
      kind: 'oidc',
      oidc: { issuer, clientId: 'client', scopes: [], groupsClaim: null, trustEmail: false },
      openClientSecret: () => Promise.resolve('secret-secret-secret'),
    } as unknown as SsoConnectionForSignIn;
    const flow = { flowId: 'state', returnTo: '/', nonce: 'nonce', codeVerifier: 'v'.repeat(43) };
    await expect(oidc.protocol.startSignIn(connection, flow)).rejects.toMatchObject({
      code: 'SSO_DISCOVERY_FAILED',
      status: 422,
    });
  });
});
