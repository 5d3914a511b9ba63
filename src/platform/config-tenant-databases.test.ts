import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

const env = (value: unknown) => ({ TENANT_DATABASES: JSON.stringify(value) });
const message = (value: unknown) => {
  try {
    loadConfig(env(value));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('TENANT_DATABASES', () => {
  it('none by default; entries sorted by key, roles optional', () => {
    expect(loadConfig({}).tenantDatabases).toEqual([]);
    expect(
      loadConfig(
        env({
          us1: { url: 'postgres://app:pw@db2/t', ownerUrl: 'postgres://owner:pw@db2/t', workerRole: 'w' },
          eu1: { url: 'postgresql://app@db1/t', ownerUrl: 'postgresql://owner@db1/t' },
        }),
      ).tenantDatabases,
    ).toEqual([
      { key: 'eu1', url: 'postgresql://app@db1/t', ownerUrl: 'postgresql://owner@db1/t' },
      { key: 'us1', url: 'postgres://app:pw@db2/t', ownerUrl: 'postgres://owner:pw@db2/t', workerRole: 'w' },
    ]);
  });

  it('refuses what it cannot use, never echoing a URL', () => {
    expect(() => loadConfig({ TENANT_DATABASES: '{' })).toThrow(/must be a JSON object/);
    expect(message([])).toMatch(/must be a JSON object/);
    expect(message({ 'EU 1': { url: 'postgres://a@h/d', ownerUrl: 'postgres://o@h/d' } })).toMatch(
      /key "EU 1"/,
    );
    expect(message({ eu1: { url: 'postgres://a@h/d' } })).toBe(
      'TENANT_DATABASES.eu1.ownerUrl must be a URL string',
    );
    expect(message({ eu1: { url: 'mysql://a:secret@h/d', ownerUrl: 'postgres://o@h/d' } })).toBe(
      'TENANT_DATABASES.eu1.url must be a postgres:// or postgresql:// URL',
    );
    expect(message({ eu1: { url: 'postgres://h/d', ownerUrl: 'postgres://o@h/d' } })).toMatch(
      /must name a user/,
    );
    expect(message({ eu1: { url: 'postgres://a@h/d', ownerUrl: 'postgres://o@h/d', x: 1 } })).toMatch(
      /unknown fields: x/,
    );
    expect(
      message({ eu1: { url: 'postgres://a@h/d', ownerUrl: 'postgres://o@h/d', definerRole: 'Bad-Role' } }),
    ).toMatch(/definerRole must be a role name/);
  });
});
