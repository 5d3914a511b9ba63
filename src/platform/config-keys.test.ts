import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

function failure(env: NodeJS.ProcessEnv, variable: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.variable).toBe(variable);
  expect(err.message).not.toMatch(/[\r\n]/);
  return err;
}

describe('loadConfig: per-organization encryption', () => {
  it('defaults to the local provider, no previous KEK, a 5-minute key cache', () => {
    expect(loadConfig({}).tenantKeys).toEqual({
      kmsProvider: 'local',
      aws: undefined,
      kekPrevious: [],
      keyVaultUrl: undefined,
      keyCacheTtlMs: 300_000,
    });
  });

  it('reads the AWS KMS settings, and requires the key and region with KMS_PROVIDER=aws-kms', () => {
    const keyId = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(
      loadConfig({ KMS_PROVIDER: 'aws-kms', AWS_KMS_KEY_ID: keyId, AWS_REGION: 'eu-west-1' }).tenantKeys.aws,
    ).toEqual({ keyId, region: 'eu-west-1', endpoint: undefined });
    expect(
      loadConfig({
        KMS_PROVIDER: 'aws-kms',
        AWS_KMS_KEY_ID: 'alias/saasready',
        AWS_REGION: 'us-east-1',
        AWS_KMS_ENDPOINT: 'http://127.0.0.1:4599',
      }).tenantKeys.aws,
    ).toEqual({ keyId: 'alias/saasready', region: 'us-east-1', endpoint: 'http://127.0.0.1:4599' });
    failure({ KMS_PROVIDER: 'vault' }, 'KMS_PROVIDER');
    failure({ KMS_PROVIDER: 'aws-kms', AWS_REGION: 'eu-west-1' }, 'AWS_KMS_KEY_ID');
    failure({ KMS_PROVIDER: 'aws-kms', AWS_KMS_KEY_ID: 'alias/x' }, 'AWS_REGION');
    failure({ KMS_PROVIDER: 'aws-kms', AWS_KMS_KEY_ID: 'alias/x', AWS_REGION: 'Mars' }, 'AWS_REGION');
    failure(
      {
        KMS_PROVIDER: 'aws-kms',
        AWS_KMS_KEY_ID: 'alias/x',
        AWS_REGION: 'eu-west-1',
        AWS_KMS_ENDPOINT: 'ftp://x',
      },
      'AWS_KMS_ENDPOINT',
    );
  });

  it('reads previous KEKs, and says which entry is wrong without showing it', () => {
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    expect(
      loadConfig({ KEK_PREVIOUS: `${k1.toString('base64')}, ${k2.toString('base64url')}` }).tenantKeys
        .kekPrevious,
    ).toEqual([k1, k2]);
    const short = randomBytes(16).toString('base64');
    const err = failure({ KEK_PREVIOUS: `${k1.toString('base64')},${short}` }, 'KEK_PREVIOUS');
    expect(err.message).toContain('entry 2');
    expect(err.message).not.toContain(short);
    expect(err.message).not.toContain(k1.toString('base64'));
  });

  it('validates the key vault URL without showing it, and the cache TTL bounds', () => {
    expect(
      loadConfig({ KEY_VAULT_DATABASE_URL: 'postgres://vault:pw@db/saasready_keyvault' }).tenantKeys
        .keyVaultUrl,
    ).toBe('postgres://vault:pw@db/saasready_keyvault');
    const err = failure({ KEY_VAULT_DATABASE_URL: 'mysql://vault:secretpw@db/x' }, 'KEY_VAULT_DATABASE_URL');
    expect(err.message).not.toContain('secretpw');
    expect(loadConfig({ TENANT_KEY_CACHE_TTL_SECONDS: '0' }).tenantKeys.keyCacheTtlMs).toBe(0);
    failure({ TENANT_KEY_CACHE_TTL_SECONDS: '301' }, 'TENANT_KEY_CACHE_TTL_SECONDS');
  });
});
