import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, describe, it, expect } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { loadSecrets, type Secrets } from './secrets.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-secrets-'));
  dirs.push(dir);
  return dir;
}

function ed25519Jwk(): { kty: string; crv: string; d: string; x: string } {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', d: jwk.d!, x: jwk.x! };
}

async function signsAndVerifies(key: Secrets['jwtKeys'][number]): Promise<void> {
  const token = await new SignJWT({ sub: 'u1' })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
    .sign(await importJWK(key.privateJwk, 'EdDSA'));
  const { payload } = await jwtVerify(token, await importJWK(key.publicJwk, 'EdDSA'));
  expect(payload.sub).toBe('u1');
}

async function loadError(dataDir: string): Promise<ConfigError> {
  const err: unknown = await loadSecrets(loadConfig({ DATA_DIR: dataDir })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).variable).toBe('DATA_DIR');
  expect((err as ConfigError).message).not.toMatch(/\n/);
  return err as ConfigError;
}

describe('loadSecrets (development/test: secrets.json under DATA_DIR)', () => {
  it('generates secrets once and returns the same values on the next load', async () => {
    const dataDir = path.join(await tempDir(), 'nested', 'data');
    const config = loadConfig({ DATA_DIR: dataDir, NODE_ENV: 'test' });
    const first = await loadSecrets(config);
    expect(first.sessionSecret).toHaveLength(32);
    expect(first.kek).toHaveLength(32);
    expect(first.jwtKeys).toHaveLength(1);
    const key = first.jwtKeys[0]!;
    expect(key.kid).toBe(await calculateJwkThumbprint(key.publicJwk, 'sha256'));
    expect(key.publicJwk).not.toHaveProperty('d');
    await signsAndVerifies(key);

    const second = await loadSecrets(loadConfig({ DATA_DIR: dataDir }));
    expect(second).toEqual(first);
    expect(await fs.readdir(dataDir)).toEqual(['secrets.json']);
  });

  it('writes secrets.json with mode 0600', async () => {
    const dataDir = await tempDir();
    await loadSecrets(loadConfig({ DATA_DIR: dataDir }));
    const stat = await fs.stat(path.join(dataDir, 'secrets.json'));
    if (process.platform !== 'win32') expect(stat.mode & 0o777).toBe(0o600);
  });

  it('lets environment values override the file without rewriting it', async () => {
    const dataDir = await tempDir();
    const file = path.join(dataDir, 'secrets.json');
    const fromFile = await loadSecrets(loadConfig({ DATA_DIR: dataDir }));
    const before = await fs.readFile(file, 'utf8');

    const session = randomBytes(48);
    const kek = randomBytes(32);
    const jwk = { ...ed25519Jwk(), kid: 'env-key' };
    const env = {
      DATA_DIR: dataDir,
      SESSION_SECRET: session.toString('base64'),
      KEK: kek.toString('base64url'),
      JWT_PRIVATE_KEY: JSON.stringify(jwk),
    };
    const overridden = await loadSecrets(loadConfig(env));
    expect(overridden.sessionSecret.equals(session)).toBe(true);
    expect(overridden.kek.equals(kek)).toBe(true);
    expect(overridden.jwtKeys.map((k) => k.kid)).toEqual(['env-key']);
    expect(overridden.jwtKeys[0]!.publicJwk.x).toBe(jwk.x);
    await signsAndVerifies(overridden.jwtKeys[0]!);
    expect(await fs.readFile(file, 'utf8')).toBe(before);

    const partial = await loadSecrets(loadConfig({ DATA_DIR: dataDir, KEK: env.KEK }));
    expect(partial.kek.equals(kek)).toBe(true);
    expect(partial.sessionSecret.equals(fromFile.sessionSecret)).toBe(true);
    expect(partial.jwtKeys).toEqual(fromFile.jwtKeys);
  });

  it('completes a file that lacks some values and keeps the ones it has', async () => {
    const dataDir = await tempDir();
    const kek = randomBytes(32);
    await fs.writeFile(
      path.join(dataDir, 'secrets.json'),
      JSON.stringify({ kek: kek.toString('base64url') }),
    );
    const secrets = await loadSecrets(loadConfig({ DATA_DIR: dataDir }));
    expect(secrets.kek.equals(kek)).toBe(true);
    expect(await loadSecrets(loadConfig({ DATA_DIR: dataDir }))).toEqual(secrets);
  });

  it('rejects a corrupt secrets.json with a DATA_DIR error naming the file', async () => {
    const dataDir = await tempDir();
    const file = path.join(dataDir, 'secrets.json');
    await fs.writeFile(file, '{"sessionSecret": ');
    const err = await loadError(dataDir);
    expect(err.message).toContain(file);
    expect(err.message).toContain('not valid JSON');
    expect(await fs.readFile(file, 'utf8')).toBe('{"sessionSecret": ');
  });

  it('rejects well-formed JSON holding invalid values, without showing them', async () => {
    const dataDir = await tempDir();
    const file = path.join(dataDir, 'secrets.json');
    const short = randomBytes(16).toString('base64url');
    await fs.writeFile(file, JSON.stringify({ kek: short }));
    const err = await loadError(dataDir);
    expect(err.message).toContain(file);
    expect(err.message).not.toContain(short);

    await fs.writeFile(file, JSON.stringify({ jwtKeys: [{ kid: 'a', privateJwk: { kty: 'RSA' } }] }));
    expect((await loadError(dataDir)).message).toContain('jwtKeys[0]');
    await fs.writeFile(file, '[]');
    expect((await loadError(dataDir)).message).toContain(file);
  });
});

describe('loadSecrets (production: environment only)', () => {
  it('uses only the environment and touches no file', async () => {
    const dataDir = path.join(await tempDir(), 'absent');
    const session = randomBytes(32);
    const kek = randomBytes(32);
    const jwk = ed25519Jwk();
    const config = loadConfig({
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      SESSION_SECRET: session.toString('base64'),
      KEK: kek.toString('base64'),
      JWT_PRIVATE_KEY: JSON.stringify(jwk),
      AUDIT_SIGNING_KEY: JSON.stringify({ ...ed25519Jwk(), kid: 'audit-1' }),
    });
    const secrets = await loadSecrets(config);
    expect(secrets.auditKey.kid).toBe('audit-1');
    expect(secrets.auditKey.publicJwk).not.toHaveProperty('d');
    expect(secrets.sessionSecret.equals(session)).toBe(true);
    expect(secrets.kek.equals(kek)).toBe(true);
    expect(secrets.jwtKeys).toHaveLength(1);
    expect(secrets.jwtKeys[0]!.kid).toBe(await calculateJwkThumbprint(jwk, 'sha256'));
    await signsAndVerifies(secrets.jwtKeys[0]!);
    await expect(fs.stat(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("keeps the JWK's own kid", async () => {
    const env = {
      NODE_ENV: 'production',
      SESSION_SECRET: randomBytes(32).toString('base64url'),
      KEK: randomBytes(32).toString('base64url'),
      JWT_PRIVATE_KEY: JSON.stringify({ ...ed25519Jwk(), kid: '2025-01' }),
      AUDIT_SIGNING_KEY: JSON.stringify(ed25519Jwk()),
    };
    const secrets = await loadSecrets(loadConfig(env));
    expect(secrets.jwtKeys[0]!.kid).toBe('2025-01');
    expect(secrets.jwtKeys[0]!.publicJwk.kid).toBe('2025-01');
  });

  it('refuses a production config that lacks a secret', async () => {
    const config = { ...loadConfig({ NODE_ENV: 'test' }), nodeEnv: 'production' as const };
    await expect(loadSecrets(config)).rejects.toMatchObject({ variable: 'SESSION_SECRET' });
  });
});
