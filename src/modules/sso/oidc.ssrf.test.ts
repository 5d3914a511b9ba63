import { describe, expect, it } from 'vitest';
import { createOidcProtocol } from './oidc.protocol.js';

describe('OIDC issuer discovery (SSRF)', () => {
  const oidc = createOidcProtocol({ publicUrl: 'https://app.example.test', timeoutSeconds: 3 });

  it.each([
    'https://127.0.0.1',
    'https://169.254.169.254',
    'https://10.1.2.3/realms/x',
    'https://[::1]',
    'https://localhost',
  ])('refuses an issuer in the server’s own network: %s', async (issuer) => {
    const err = await oidc.discover(issuer, 'client').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SSO_DISCOVERY_FAILED' });
    expect(String((err as Error).message)).toMatch(/private or reserved|not an IP/);
  });
});

describe('guardedFetch (what openid-client fetches through in production)', () => {
  it('answers like fetch for an allowed address: status, headers, body; a form body is sent', async () => {
    const https = await import('node:https');
    const { generate } = await import('selfsigned');
    const { guardedFetch } = await import('./guarded-fetch.js');
    const { createAddressPolicy } = await import('../webhooks/address-policy.js');
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048 });
    let received = '';
    const server = https.createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received = `${req.method} ${req.url} ${req.headers['content-type']} ${body}`;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; // the throwaway certificate
    try {
      const fetch = guardedFetch(createAddressPolicy(['127.0.0.1/32']));
      const res = await fetch(`https://127.0.0.1:${port}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code' }),
        redirect: 'manual',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.json()).toEqual({ ok: true });
      expect(received).toBe('POST /token application/x-www-form-urlencoded grant_type=authorization_code');
      // Without the allowance, the same server is refused.
      await expect(
        guardedFetch(createAddressPolicy())(`https://127.0.0.1:${port}/`, {
          method: 'GET',
          headers: {},
          body: undefined,
          redirect: 'manual',
        }),
      ).rejects.toThrow(/private or reserved/);
    } finally {
      if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
      server.close();
    }
  });
});
