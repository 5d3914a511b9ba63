/**
 * The aws-kms provider through the real `@aws-sdk/client-kms`, pointed at a local server speaking the
 * AWS JSON 1.1 protocol (test/support/kms-fake-server.ts): GenerateDataKey, Decrypt, Encrypt, ReEncrypt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKms, type FakeKms } from '../../../test/support/kms-fake-server.js';
import { createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { createAwsKms } from './kms-aws.js';
import { selectKms } from './kms-select.js';
import { createKeyVault } from './key-vault.js';
import { bootstrapKeyVault, dropKeyVault, keyVaultNamesFor } from './key-vault-bootstrap.js';
import { randomBytes } from 'node:crypto';
import { createTenantSealer } from './tenant-sealer.js';
import { createTenantKeyShredder } from './shredder.js';
import { createKeyRotation } from './rotation.js';

const K1 = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-1111-4111-8111-111111111111';
const K2 = 'arn:aws:kms:eu-west-1:111122223333:key/22222222-2222-4222-8222-222222222222';
const credentials = { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' };

describe('aws-kms provider (real SDK, local AWS JSON 1.1 server)', () => {
  let fake: FakeKms;
  let tenancy: Tenancy;
  let vault: ReturnType<typeof createKeyVault>;
  const kms = (keyId: string) =>
    createAwsKms({ keyId, region: 'eu-west-1', endpoint: fake.url, credentials });

  // A vault of its own: the KEK rotation below re-wraps every key of the vault it runs on.
  const names = keyVaultNamesFor(`sr_awskms_${randomBytes(4).toString('hex')}`);

  beforeAll(async () => {
    fake = await startFakeKms([K1, K2]);
    tenancy = createTestTenancy(2);
    const url = await bootstrapKeyVault({
      superuserUrl: testDb().superuserUrl,
      names,
      password: randomBytes(16).toString('hex'),
    });
    vault = createKeyVault({ url });
    await vault.ensureSchema();
  });
  afterAll(async () => {
    await vault.close();
    await tenancy.close();
    await fake.close();
    await dropKeyVault(testDb().superuserUrl, names);
  });

  it('generates, decrypts, encrypts and re-encrypts data keys', async () => {
    const one = kms(K1);
    const dk = await one.generateDataKey();
    expect(dk.plaintext).toHaveLength(32);
    expect(dk.kekId).toBe(K1);
    expect(dk.wrapped.includes(dk.plaintext)).toBe(false);
    expect((await one.decrypt(dk.wrapped, K1)).equals(dk.plaintext)).toBe(true);
    const again = await one.encrypt(dk.plaintext);
    expect((await one.decrypt(again.wrapped, K1)).equals(dk.plaintext)).toBe(true);
    // KEK rotation: AWS_KMS_KEY_ID changed to K2; ReEncrypt moves the key without the plaintext here.
    const two = kms(K2);
    const moved = await two.reEncrypt(dk.wrapped, K1);
    expect(moved.kekId).toBe(K2);
    expect((await two.decrypt(moved.wrapped, K2)).equals(dk.plaintext)).toBe(true);
    expect(fake.calls).toEqual(['GenerateDataKey', 'Decrypt', 'Encrypt', 'Decrypt', 'ReEncrypt', 'Decrypt']);
    one.destroy();
    two.destroy();
  });

  it('maps every KMS failure to KMS_UNAVAILABLE without the SDK’s message', async () => {
    const one = kms(K1);
    const dk = await one.generateDataKey();
    const tampered = Buffer.from(dk.wrapped);
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    await expect(one.decrypt(tampered, K1)).rejects.toMatchObject({
      code: 'KMS_UNAVAILABLE',
      message: 'the AWS KMS request failed',
    });
    await expect(one.decrypt(dk.wrapped, K2)).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE' });
    fake.failNext(10);
    await expect(one.generateDataKey()).rejects.toMatchObject({ code: 'KMS_UNAVAILABLE' });
    fake.failNext(0);
    one.destroy();
  });

  it('seals and opens per organization, rotates the KEK and shreds, with the AWS provider', async () => {
    const org = await createTestOrg(tenancy, 'aws-kms');
    const k1 = selectKms(
      {
        kmsProvider: 'aws-kms',
        aws: { keyId: K1, region: 'eu-west-1', endpoint: fake.url },
        awsCredentials: credentials,
      },
      Buffer.alloc(32),
    );
    expect(k1.name).toBe('aws-kms');
    const sealer = createTenantSealer({ vault, kms: k1 });
    const b = { table: 't', column: 'c', rowId: 'r' };
    const sealed = await tenancy.withTenant(org, (db) => sealer.sealForTenant(db, org, b, 'via aws'));
    const k2 = kms(K2);
    const rotation = createKeyRotation({
      vault,
      kms: k2,
      sealer: createTenantSealer({ vault, kms: k2 }),
      withTenant: tenancy.withTenant,
      keysChanged: () => {},
      columns: [],
    });
    await rotation.rewrapAll();
    expect((await vault.versions(org))[0]!.kekId).toBe(K2);
    const after = createTenantSealer({ vault, kms: k2 });
    const text = await tenancy.withTenant(org, async (db) =>
      (await after.openForTenant(db, org, b, sealed)).toString(),
    );
    expect(text).toBe('via aws');
    await createTenantKeyShredder({ vault, keysChanged: (id) => after.forget(id) }).destroyOrganizationKeys(
      org,
    );
    await expect(
      tenancy.withTenant(org, (db) => after.openForTenant(db, org, b, sealed)),
    ).rejects.toMatchObject({ code: 'SEALED_VALUE_UNREADABLE' });
    k1.destroy?.();
    k2.destroy();
  });
});
