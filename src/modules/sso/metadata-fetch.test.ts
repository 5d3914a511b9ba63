import { describe, expect, it } from 'vitest';
import { fetchMetadata } from './metadata-fetch.js';

describe('fetchMetadata (SAML metadata URL, SSRF)', () => {
  it.each([
    'https://127.0.0.1/metadata',
    'https://10.0.0.5/metadata',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::1]/metadata',
    'https://[::ffff:127.0.0.1]/metadata',
    'https://0x7f000001/metadata', // the URL parser turns it into 127.0.0.1
  ])('refuses an address of the server’s own network: %s', async (url) => {
    await expect(fetchMetadata(url)).rejects.toMatchObject({ code: 'SSO_CONNECTION_INVALID' });
  });

  it('refuses a name that resolves to a private address (checked on the connecting socket)', async () => {
    await expect(fetchMetadata('https://localhost/metadata')).rejects.toMatchObject({
      code: 'SSO_CONNECTION_INVALID',
    });
  });

  it('refuses anything but https', async () => {
    await expect(fetchMetadata('http://idp.example.test/metadata')).rejects.toMatchObject({
      code: 'SSO_CONNECTION_INVALID',
    });
    await expect(fetchMetadata('file:///etc/passwd')).rejects.toMatchObject({
      code: 'SSO_CONNECTION_INVALID',
    });
  });
});
