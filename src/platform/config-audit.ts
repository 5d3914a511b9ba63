/** AUDIT_RETIRED_KEYS, read by `loadConfig`: the public halves of rotated-out audit signing keys. */
import type { RetiredAuditKey } from './config.js';

/**
 * Parses AUDIT_RETIRED_KEYS (a JSON array of Ed25519 public JWKs with `kid`), refusing a private key.
 *
 * @param fail - builds the ConfigError for AUDIT_RETIRED_KEYS from a one-line message
 */
export function retiredAuditKeys(
  env: NodeJS.ProcessEnv,
  fail: (message: string) => Error,
): RetiredAuditKey[] {
  const raw = env.AUDIT_RETIRED_KEYS?.trim();
  if (!raw) return [];
  const bad = (why: string) =>
    fail(`AUDIT_RETIRED_KEYS must be a JSON array of Ed25519 public JWKs with "kid": ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw bad('it is not valid JSON');
  }
  if (!Array.isArray(parsed)) throw bad('it is not an array');
  return parsed.map((k: unknown, i) => {
    const o = (typeof k === 'object' && k !== null ? k : {}) as Record<string, unknown>;
    if (
      o.kty !== 'OKP' ||
      o.crv !== 'Ed25519' ||
      typeof o.x !== 'string' ||
      typeof o.kid !== 'string' ||
      o.kid === ''
    ) {
      throw bad(`entry ${i} is not one`);
    }
    if (o.d !== undefined) throw bad(`entry ${i} holds a private key ("d"): give only the public half`);
    return { kid: o.kid, jwk: { kty: 'OKP', crv: 'Ed25519', x: o.x, kid: o.kid } };
  });
}
