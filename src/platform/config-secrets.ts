/**
 * The secrets given in the environment, read by `loadConfig`: SESSION_SECRET, KEK, JWT_PRIVATE_KEY,
 * AUDIT_SIGNING_KEY.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import type { NodeEnv } from './config.js';
import { ConfigError, read } from './config-read.js';

/** Secrets given in the environment (all required in production; optional elsewhere). */
export interface SecretsFromEnv {
  sessionSecret?: Buffer;
  kek?: Buffer;
  jwtPrivateJwk?: JWK;
  /** Signs audit checkpoints (AUDIT_SIGNING_KEY). */
  auditPrivateJwk?: JWK;
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Decodes base64 or base64url; the message never shows the value. */
function key(env: NodeJS.ProcessEnv, name: string, bytes: number, exact: boolean): Buffer | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  const want = exact ? `exactly ${bytes} bytes` : `at least ${bytes} bytes`;
  if (!BASE64.test(raw)) {
    throw new ConfigError(
      name,
      `${name} must be base64 or base64url encoding ${want} (it contains other characters)`,
    );
  }
  const decoded = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (exact ? decoded.length !== bytes : decoded.length < bytes) {
    throw new ConfigError(name, `${name} must decode to ${want} (it decodes to ${decoded.length})`);
  }
  return decoded;
}

/**
 * Checks that a value is a private Ed25519 JWK (kty OKP, crv Ed25519, `d` and a matching `x`, optional
 * string `kid`).
 *
 * @returns a short description of the problem, or undefined when the key is valid
 */
export function ed25519JwkProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'is not a JSON object';
  const jwk = value as Record<string, unknown>;
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') return 'must have kty "OKP" and crv "Ed25519"';
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') return 'must have string members "d" and "x"';
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === ''))
    return 'has a "kid" that is not a string';
  try {
    const privateKey = createPrivateKey({
      key: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x },
      format: 'jwk',
    });
    if (createPublicKey(privateKey).export({ format: 'jwk' }).x !== jwk.x)
      return 'has an "x" that does not match "d"';
  } catch {
    return 'is not a valid Ed25519 private key';
  }
  return undefined;
}

function jwtKey(env: NodeJS.ProcessEnv, name = 'JWT_PRIVATE_KEY'): JWK | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(name, `${name} must be a JSON Ed25519 private JWK (it is not valid JSON)`);
  }
  const problem = ed25519JwkProblem(parsed);
  if (problem) throw new ConfigError(name, `${name} must be an Ed25519 private JWK; it ${problem}`);
  return parsed as JWK;
}

export function secretsFromEnv(env: NodeJS.ProcessEnv, nodeEnv: NodeEnv): SecretsFromEnv {
  const required = (name: string): never => {
    throw new ConfigError(name, `${name} is required when NODE_ENV=production`);
  };
  const sessionSecret = key(env, 'SESSION_SECRET', 32, false);
  if (!sessionSecret && nodeEnv === 'production') required('SESSION_SECRET');
  const kek = key(env, 'KEK', 32, true);
  if (!kek && nodeEnv === 'production') required('KEK');
  const jwtPrivateJwk = jwtKey(env);
  if (!jwtPrivateJwk && nodeEnv === 'production') required('JWT_PRIVATE_KEY');
  const auditPrivateJwk = jwtKey(env, 'AUDIT_SIGNING_KEY');
  if (!auditPrivateJwk && nodeEnv === 'production') required('AUDIT_SIGNING_KEY');
  const out: SecretsFromEnv = {};
  if (sessionSecret) out.sessionSecret = sessionSecret;
  if (kek) out.kek = kek;
  if (jwtPrivateJwk) out.jwtPrivateJwk = jwtPrivateJwk;
  if (auditPrivateJwk) out.auditPrivateJwk = auditPrivateJwk;
  return out;
}
