import type { TenantKeysConfig } from '../config-keys.js';
import { createAwsKms } from './kms-aws.js';
import { createLocalKms } from './kms-local.js';
import type { Kms } from './kms.js';

/** The KMS settings the composition takes (from `TenantKeysConfig`; every field optional). */
export type KmsSettings = Partial<Pick<TenantKeysConfig, 'kmsProvider' | 'aws' | 'kekPrevious'>> & {
  /** Credentials for the AWS SDK (tests); the SDK's default chain otherwise. */
  readonly awsCredentials?: { accessKeyId: string; secretAccessKey: string };
};

/** The configured provider: `local` (KEK and KEK_PREVIOUS) unless KMS_PROVIDER=aws-kms. */
export function selectKms(settings: KmsSettings | undefined, kek: Buffer): Kms & { destroy?: () => void } {
  if (settings?.kmsProvider === 'aws-kms') {
    if (!settings.aws) throw new Error('KMS_PROVIDER=aws-kms needs AWS_KMS_KEY_ID and AWS_REGION');
    return createAwsKms({
      keyId: settings.aws.keyId,
      region: settings.aws.region,
      ...(settings.aws.endpoint ? { endpoint: settings.aws.endpoint } : {}),
      ...(settings.awsCredentials ? { credentials: settings.awsCredentials } : {}),
    });
  }
  return createLocalKms(kek, settings?.kekPrevious ?? []);
}
