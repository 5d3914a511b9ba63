import https from 'node:https';
import { isIP } from 'node:net';
import { createAddressPolicy, type AddressPolicy } from '../webhooks/address-policy.js';
import { AddressRefusedError, guardedLookup } from '../webhooks/webhook-http.js';
import { SsoError } from './sso.errors.js';

const MAX_BYTES = 500_000;
const TIMEOUT_MS = 10_000;
const defaultPolicy = createAddressPolicy();

/**
 * Fetches an IdP's SAML metadata (https only, 10 s, at most 500 KB, no redirects). An organization
 * admin chooses the URL, so the server's own network is out of reach (SSRF): the webhooks' address
 * policy refuses private, loopback, link-local and other reserved addresses, checked on the address the
 * socket connects to (no DNS rebinding between a check and the connection).
 */
export async function fetchMetadata(url: string, policy: AddressPolicy = defaultPolicy): Promise<string> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SsoError('SSO_CONNECTION_INVALID', 'metadata URL must be https://');
  }
  if (u.protocol !== 'https:') throw new SsoError('SSO_CONNECTION_INVALID', 'metadata URL must be https://');
  const literal = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) !== 0 && policy.refusal(literal)) {
    throw new SsoError('SSO_CONNECTION_INVALID', 'the metadata URL points to a private or reserved address');
  }
  const agent = new https.Agent({ keepAlive: false, lookup: guardedLookup(policy) });
  try {
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.get(u, { agent, headers: { 'user-agent': 'SaaSReady-SSO/1' } }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BYTES) {
            res.destroy();
            reject(new SsoError('SSO_DISCOVERY_FAILED', 'the metadata is larger than 500 KB'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
    if (status < 200 || status >= 300)
      throw new SsoError('SSO_DISCOVERY_FAILED', `the metadata URL answered ${status}`);
    return text;
  } catch (err) {
    if (err instanceof SsoError) throw err;
    if (err instanceof AddressRefusedError) {
      throw new SsoError(
        'SSO_CONNECTION_INVALID',
        'the metadata URL points to a private or reserved address',
      );
    }
    throw new SsoError('SSO_DISCOVERY_FAILED', 'the metadata URL could not be fetched');
  } finally {
    agent.destroy();
  }
}
