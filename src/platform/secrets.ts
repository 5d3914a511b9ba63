import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { ConfigError, ed25519JwkProblem, type AppConfig } from './config.js';

/** The process's secrets. `jwtKeys[0]` is the current signing key; later keys only verify. */
export interface Secrets {
  sessionSecret: Buffer;
  kek: Buffer;
  jwtKeys: { kid: string; privateJwk: JWK; publicJwk: JWK }[];
  /** Signs audit checkpoints (Ed25519); its public half is published. */
  auditKey: { kid: string; privateJwk: JWK; publicJwk: JWK };
}

/** On-disk shape of `<DATA_DIR>/secrets.json` (development and test only). */
interface SecretsFile {
  version: 1;
  sessionSecret?: string;
  kek?: string;
  jwtKeys?: { kid: string; privateJwk: JWK }[];
  auditKey?: { kid: string; privateJwk: JWK };
}

const FILE_NAME = 'secrets.json';

async function jwtKeyOf(privateJwk: JWK): Promise<Secrets['jwtKeys'][number]> {
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint(privateJwk, 'sha256'));
  const { kty, crv, x, d } = privateJwk;
  return {
    kid,
    privateJwk: { kty, crv, x, d, kid, alg: 'EdDSA' },
    publicJwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' },
  };
}

async function generateJwk(): Promise<{ kid: string; privateJwk: JWK }> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { kty, crv, x, d } = await exportJWK(privateKey);
  const jwk: JWK = { kty, crv, x, d };
  return { kid: await calculateJwkThumbprint(jwk, 'sha256'), privateJwk: jwk };
}

async function fromProduction(config: AppConfig): Promise<Secrets> {
  const { sessionSecret, kek, jwtPrivateJwk, auditPrivateJwk } = config.secretsFromEnv;
  if (!sessionSecret)
    throw new ConfigError('SESSION_SECRET', 'SESSION_SECRET is required when NODE_ENV=production');
  if (!kek) throw new ConfigError('KEK', 'KEK is required when NODE_ENV=production');
  if (!jwtPrivateJwk) {
    throw new ConfigError('JWT_PRIVATE_KEY', 'JWT_PRIVATE_KEY is required when NODE_ENV=production');
  }
  if (!auditPrivateJwk) {
    throw new ConfigError('AUDIT_SIGNING_KEY', 'AUDIT_SIGNING_KEY is required when NODE_ENV=production');
  }
  return {
    sessionSecret,
    kek,
    jwtKeys: [await jwtKeyOf(jwtPrivateJwk)],
    auditKey: await jwtKeyOf(auditPrivateJwk),
  };
}

function decodeKey(value: unknown, bytes: number, exact: boolean): Buffer | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
  const buf = Buffer.from(value, 'base64url');
  return (exact ? buf.length === bytes : buf.length >= bytes) ? buf : undefined;
}

/** Reads and checks the file; a missing file is empty. Problems are reported against DATA_DIR. */
async function readFile(file: string): Promise<SecretsFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1 };
    throw new ConfigError(
      'DATA_DIR',
      `DATA_DIR: cannot read ${file} (${(err as NodeJS.ErrnoException).code})`,
    );
  }
  const bad = (why: string): ConfigError =>
    new ConfigError('DATA_DIR', `DATA_DIR: ${file} ${why}; fix it or delete it to generate new secrets`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad('is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad('is not a JSON object');
  const data = parsed as Record<string, unknown>;
  const out: SecretsFile = { version: 1 };
  if (data.sessionSecret !== undefined) {
    if (!decodeKey(data.sessionSecret, 32, false)) throw bad('has an invalid "sessionSecret"');
    out.sessionSecret = data.sessionSecret as string;
  }
  if (data.kek !== undefined) {
    if (!decodeKey(data.kek, 32, true)) throw bad('has an invalid "kek"');
    out.kek = data.kek as string;
  }
  if (data.jwtKeys !== undefined) {
    if (!Array.isArray(data.jwtKeys)) throw bad('has an invalid "jwtKeys"');
    out.jwtKeys = (data.jwtKeys as unknown[]).map((entry, i) => {
      const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
      if (typeof e.kid !== 'string' || e.kid === '' || ed25519JwkProblem(e.privateJwk) !== undefined) {
        throw bad(`has an invalid "jwtKeys[${i}]"`);
      }
      return { kid: e.kid, privateJwk: e.privateJwk as JWK };
    });
  }
  if (data.auditKey !== undefined) {
    const e = (typeof data.auditKey === 'object' && data.auditKey !== null ? data.auditKey : {}) as Record<
      string,
      unknown
    >;
    if (typeof e.kid !== 'string' || e.kid === '' || ed25519JwkProblem(e.privateJwk) !== undefined) {
      throw bad('has an invalid "auditKey"');
    }
    out.auditKey = { kid: e.kid, privateJwk: e.privateJwk as JWK };
  }
  return out;
}

/** Writes via a temporary file and rename, so a reader never sees a partial file. Mode 0600. */
async function writeAtomically(file: string, data: SecretsFile): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await fs.chmod(tmp, 0o600);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Loads the process's secrets.
 *
 * In production they come only from the environment (SESSION_SECRET, KEK, JWT_PRIVATE_KEY, already
 * validated by `loadConfig`); the JWT key's `kid` is its own or its SHA-256 JWK thumbprint.
 * Elsewhere they are kept in `<DATA_DIR>/secrets.json` (mode 0600): missing values are generated and
 * persisted, so loading twice gives the same secrets, and values given in the environment take
 * precedence over the file's (without being written to it).
 *
 * @throws ConfigError (variable `DATA_DIR`) when secrets.json cannot be read or is corrupt
 */
export async function loadSecrets(config: AppConfig): Promise<Secrets> {
  if (config.nodeEnv === 'production') return fromProduction(config);

  await fs.mkdir(config.dataDir, { recursive: true });
  const file = path.join(config.dataDir, FILE_NAME);
  const stored = await readFile(file);
  let changed = false;
  if (stored.sessionSecret === undefined) {
    stored.sessionSecret = randomBytes(32).toString('base64url');
    changed = true;
  }
  if (stored.kek === undefined) {
    stored.kek = randomBytes(32).toString('base64url');
    changed = true;
  }
  if (stored.jwtKeys === undefined || stored.jwtKeys.length === 0) {
    stored.jwtKeys = [await generateJwk()];
    changed = true;
  }
  if (stored.auditKey === undefined) {
    stored.auditKey = await generateJwk();
    changed = true;
  }
  if (changed) {
    await writeAtomically(file, stored);
  } else if (((await fs.stat(file)).mode & 0o777) !== 0o600) {
    await fs.chmod(file, 0o600);
  }

  const env = config.secretsFromEnv;
  const jwtKeys = env.jwtPrivateJwk
    ? [await jwtKeyOf(env.jwtPrivateJwk)]
    : await Promise.all(stored.jwtKeys.map((k) => jwtKeyOf({ ...k.privateJwk, kid: k.kid })));
  return {
    sessionSecret: env.sessionSecret ?? Buffer.from(stored.sessionSecret, 'base64url'),
    kek: env.kek ?? Buffer.from(stored.kek, 'base64url'),
    jwtKeys,
    auditKey: env.auditPrivateJwk
      ? await jwtKeyOf(env.auditPrivateJwk)
      : await jwtKeyOf({ ...stored.auditKey.privateJwk, kid: stored.auditKey.kid }),
  };
}
