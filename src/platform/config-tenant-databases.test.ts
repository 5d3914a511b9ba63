import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';
import { tenantDatabaseMigrationTargets } from './config-tenant-databases.js';

const SECRET = 's3cr3t-pw';
const dir = mkdtempSync(path.join(tmpdir(), 'saasready-tdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads the config expecting a ConfigError naming `variable`, whose message never shows a password. */
function failure(env: NodeJS.ProcessEnv, variable: string): string {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.variable).toBe(variable);
  expect(err.message).toContain(variable);
  expect(err.message).not.toContain(SECRET);
  expect(err.message).not.toMatch(/[\r\n]/);
  return err.message;
}

const good = {
  eu_1: {
    url: `postgres://app:${SECRET}@db-eu/tenants`,
    ownerUrl: `postgresql://owner:${SECRET}@db-eu/tenants`,
  },
  'us-2': { url: `postgres://app:${SECRET}@db-us:5433/tenants`, workerUrl: `postgres://w@db-us/tenants` },
};

describe('tenant databases configuration', () => {
  it('defaults: no tenant databases, a cap of 20 connections, pools of 10', () => {
    expect(loadConfig({}).tenantDatabases).toEqual({
      databases: {},
      regions: {},
      maxConnections: 20,
      poolSize: 10,
      idleTimeoutMs: 30_000,
      acquireTimeoutMs: 5_000,
    });
  });

  it('reads TENANT_DATABASES inline and the limits; a small cap bounds the default pool size', () => {
    const c = loadConfig({ TENANT_DATABASES: JSON.stringify(good), TENANT_DB_MAX_CONNECTIONS: '4' });
    expect(c.tenantDatabases.databases).toEqual(good);
    expect(c.tenantDatabases.maxConnections).toBe(4);
    expect(c.tenantDatabases.poolSize).toBe(4);
    expect(tenantDatabaseMigrationTargets(c.tenantDatabases)).toEqual([
      { key: 'eu_1', ownerUrl: good.eu_1.ownerUrl },
    ]);
  });

  it('reads TENANT_DATABASES_FILE', () => {
    const file = path.join(dir, 'tenant-databases.json');
    writeFileSync(file, JSON.stringify(good));
    expect(loadConfig({ TENANT_DATABASES_FILE: file }).tenantDatabases.databases).toEqual(good);
  });

  it('refuses both sources, an unreadable file, bad JSON and bad shapes, naming the variable', () => {
    const both = { TENANT_DATABASES: '{}', TENANT_DATABASES_FILE: '/x' };
    expect(failure(both, 'TENANT_DATABASES')).toContain('both set');
    expect(
      failure({ TENANT_DATABASES_FILE: path.join(dir, 'missing.json') }, 'TENANT_DATABASES_FILE'),
    ).toContain('ENOENT');
    const badFile = path.join(dir, 'bad.json');
    writeFileSync(badFile, `{"a": {"url": "postgres://app:${SECRET}@x/db"`);
    expect(failure({ TENANT_DATABASES_FILE: badFile }, 'TENANT_DATABASES_FILE')).toContain('not valid JSON');
    expect(failure({ TENANT_DATABASES: '[]' }, 'TENANT_DATABASES')).toContain('not an object');
  });

  it('refuses bad keys, unknown fields and URLs that are not PostgreSQL URLs with a user and a database', () => {
    const env = (v: unknown) => ({ TENANT_DATABASES: JSON.stringify(v) });
    const url = `postgres://app:${SECRET}@db/tenants`;
    expect(failure(env({ EU: { url } }), 'TENANT_DATABASES')).toContain('"EU" is not a key');
    expect(failure(env({ ['a'.repeat(64)]: { url } }), 'TENANT_DATABASES')).toContain('is not a key');
    expect(failure(env({ eu: url }), 'TENANT_DATABASES')).toContain('"eu" is not an object');
    expect(failure(env({ eu: {} }), 'TENANT_DATABASES')).toContain('"eu".url is not a string');
    expect(failure(env({ eu: { url, password: SECRET } }), 'TENANT_DATABASES')).toContain('unknown field');
    expect(failure(env({ eu: { url: `mysql://app:${SECRET}@db/t` } }), 'TENANT_DATABASES')).toContain(
      'postgres://',
    );
    expect(failure(env({ eu: { url: `postgres://db/t` } }), 'TENANT_DATABASES')).toContain('no user name');
    expect(failure(env({ eu: { url: `postgres://app:${SECRET}@db` } }), 'TENANT_DATABASES')).toContain(
      'names no database',
    );
    expect(failure(env({ eu: { url, ownerUrl: `http://o:${SECRET}@db/t` } }), 'TENANT_DATABASES')).toContain(
      '"eu".ownerUrl',
    );
  });

  it('bounds the limits', () => {
    failure({ TENANT_DB_MAX_CONNECTIONS: '0' }, 'TENANT_DB_MAX_CONNECTIONS');
    failure({ TENANT_DB_MAX_CONNECTIONS: '5', TENANT_DB_POOL_SIZE: '6' }, 'TENANT_DB_POOL_SIZE');
    failure({ TENANT_DB_IDLE_TIMEOUT_MS: '10' }, 'TENANT_DB_IDLE_TIMEOUT_MS');
    failure({ TENANT_DB_ACQUIRE_TIMEOUT_MS: 'soon' }, 'TENANT_DB_ACQUIRE_TIMEOUT_MS');
  });

  it('REGIONS maps regions to configured tenant databases; DEFAULT_REGION must be one of them', () => {
    const env = { TENANT_DATABASES: JSON.stringify(good) };
    expect(
      loadConfig({ ...env, REGIONS: '{"eu":"eu_1","us":"us-2"}', DEFAULT_REGION: 'eu' }).tenantDatabases,
    ).toMatchObject({ regions: { eu: 'eu_1', us: 'us-2' }, defaultRegion: 'eu' });
    expect(failure({ ...env, REGIONS: '{"eu":"nowhere"}' }, 'REGIONS')).toMatch(
      /not a key of TENANT_DATABASES/,
    );
    expect(failure({ ...env, REGIONS: '{"EU":"eu_1"}' }, 'REGIONS')).toMatch(/not a region name/);
    expect(failure({ ...env, REGIONS: '["eu"]' }, 'REGIONS')).toMatch(/not an object/);
    expect(failure({ ...env, REGIONS: '{' }, 'REGIONS')).toMatch(/not valid JSON/);
    expect(failure({ ...env, REGIONS: '{"eu":"eu_1"}', DEFAULT_REGION: 'us' }, 'DEFAULT_REGION')).toMatch(
      /must name a region/,
    );
    expect(failure({ DEFAULT_REGION: 'eu' }, 'DEFAULT_REGION')).toMatch(/must name a region/);
  });
});
