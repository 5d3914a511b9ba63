import type { KMSClient } from '@aws-sdk/client-kms';
import type { Kms } from './kms.js';
import { TenantKeyError } from './errors.js';

export interface AwsKmsOptions {
  /** AWS_KMS_KEY_ID: key id, key ARN, alias name or alias ARN of the KEK. */
  readonly keyId: string;
  /** AWS_REGION. */
  readonly region: string;
  /** AWS_KMS_ENDPOINT: another endpoint than AWS's (a VPC endpoint; the tests' local server). */
  readonly endpoint?: string;
  /** Explicit credentials (tests); otherwise the SDK's default chain (environment, profile, role). */
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

type Sdk = typeof import('@aws-sdk/client-kms');
let sdkLoad: Promise<Sdk> | undefined;
/** The SDK is large: it loads on the first KMS request, not with every process that could configure one. */
function loadSdk(): Promise<Sdk> {
  sdkLoad ??= import('@aws-sdk/client-kms');
  return sdkLoad;
}

/** Bound to every wrap: a data key wrapped for SaaSReady's tenant keys opens only with the same context. */
const CONTEXT = { purpose: 'saasready-tenant-data-key' };

function unavailable(): TenantKeyError {
  // The SDK's message may echo request fields: it is not passed on.
  return new TenantKeyError('KMS_UNAVAILABLE', 'the AWS KMS request failed');
}

function bytes(value: Uint8Array | undefined): Buffer {
  if (!value || value.length === 0) throw unavailable();
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/**
 * The `aws-kms` provider: the KEK never leaves AWS KMS. Data keys come from GenerateDataKey (AES_256),
 * are opened with Decrypt and re-wrapped with ReEncrypt (the plaintext never reaches this process during
 * a KEK rotation). The kekId stored beside a wrapped key is AWS_KMS_KEY_ID as configured: changing it
 * starts a KEK rotation; AWS's own automatic rotation of the same key needs none.
 */
export function createAwsKms(opts: AwsKmsOptions): Kms & { destroy(): void } {
  let client: KMSClient | undefined;
  const call = async <T>(fn: (client: KMSClient, sdk: Sdk) => Promise<T>): Promise<T> => {
    const sdk = await loadSdk();
    client ??= new sdk.KMSClient({
      region: opts.region,
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
      maxAttempts: 3,
    });
    try {
      return await fn(client, sdk);
    } catch {
      throw unavailable();
    }
  };
  return {
    name: 'aws-kms',
    currentKekId: opts.keyId,
    async generateDataKey() {
      const out = await call((client, sdk) =>
        client.send(
          new sdk.GenerateDataKeyCommand({
            KeyId: opts.keyId,
            KeySpec: 'AES_256',
            EncryptionContext: CONTEXT,
          }),
        ),
      );
      const plaintext = bytes(out.Plaintext);
      if (plaintext.length !== 32) throw unavailable();
      return { plaintext, wrapped: bytes(out.CiphertextBlob), kekId: opts.keyId };
    },
    async decrypt(wrapped, kekId) {
      const out = await call((client, sdk) =>
        client.send(
          new sdk.DecryptCommand({ CiphertextBlob: wrapped, KeyId: kekId, EncryptionContext: CONTEXT }),
        ),
      );
      return bytes(out.Plaintext);
    },
    async encrypt(plaintext) {
      const out = await call((client, sdk) =>
        client.send(
          new sdk.EncryptCommand({ KeyId: opts.keyId, Plaintext: plaintext, EncryptionContext: CONTEXT }),
        ),
      );
      return { wrapped: bytes(out.CiphertextBlob), kekId: opts.keyId };
    },
    async reEncrypt(wrapped, kekId) {
      const out = await call((client, sdk) =>
        client.send(
          new sdk.ReEncryptCommand({
            CiphertextBlob: wrapped,
            SourceKeyId: kekId,
            DestinationKeyId: opts.keyId,
            SourceEncryptionContext: CONTEXT,
            DestinationEncryptionContext: CONTEXT,
          }),
        ),
      );
      return { wrapped: bytes(out.CiphertextBlob), kekId: opts.keyId };
    },
    destroy() {
      client?.destroy();
    },
  };
}
