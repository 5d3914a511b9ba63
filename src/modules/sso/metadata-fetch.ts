import { SsoError } from './sso.errors.js';

const MAX_BYTES = 500_000;

/** Fetches an IdP's SAML metadata (https only, 10 s, at most 500 KB, no redirects). */
export async function fetchMetadata(url: string): Promise<string> {
  if (!/^https:\/\//i.test(url))
    throw new SsoError('SSO_CONNECTION_INVALID', 'metadata URL must be https://');
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new SsoError('SSO_DISCOVERY_FAILED', 'the metadata URL could not be fetched');
  }
  if (!res.ok) throw new SsoError('SSO_DISCOVERY_FAILED', `the metadata URL answered ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_BYTES)
    throw new SsoError('SSO_DISCOVERY_FAILED', 'the metadata is larger than 500 KB');
  return text;
}
