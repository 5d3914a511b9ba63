/**
 * Per-organization encryption settings (issue 12), read by `loadConfig`: which KMS wraps the data keys,
 * the previous local KEKs still accepted during a KEK rotation, the key vault's database and how long an
 * unwrapped data key may stay in memory.
 */

/** The validated settings. */
export interface TenantKeysConfig {
  /** KMS_PROVIDER (default `local`): `local` wraps with KEK; `aws-kms` with AWS KMS. */
  kmsProvider: 'local' | 'aws-kms';
  /** AWS_KMS_KEY_ID, AWS_REGION, AWS_KMS_ENDPOINT (only with KMS_PROVIDER=aws-kms). */
  aws: { keyId: string; region: string; endpoint: string | undefined } | undefined;
  /**
   * KEK_PREVIOUS: earlier local KEKs (comma-separated, each base64/base64url of 32 bytes). They still
   * unwrap data keys until the KEK rotation job has re-wrapped every one under KEK, and still open the
   * two-factor secrets and queued job payloads sealed before the KEK changed; they never wrap or seal.
   */
  kekPrevious: Buffer[];
  /** KEY_VAULT_DATABASE_URL: the key vault's own database and role (external databases; required then). */
  keyVaultUrl: string | undefined;
  /** TENANT_KEY_CACHE_TTL_SECONDS (default 300, 0-300): lifetime of an unwrapped data key in memory. */
  keyCacheTtlMs: number;
}

type Fail = (variable: string, message: string) => Error;
type Int = (name: string, fallback: number, min: number, max: number) => number;

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const KMS_KEY_ID = /^[A-Za-z0-9:/_+=,.@-]{1,2048}$/;
const REGION = /^[a-z]{2}(-[a-z0-9]+){1,4}$/;

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function previousKeks(env: NodeJS.ProcessEnv, fail: Fail): Buffer[] {
  const raw = read(env, 'KEK_PREVIOUS');
  if (raw === undefined) return [];
  return raw.split(',').map((entry, i) => {
    const v = entry.trim();
    const decoded = BASE64.test(v)
      ? Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
      : undefined;
    if (!decoded || decoded.length !== 32) {
      // The value is a secret: the message says which entry, never what it holds.
      throw fail(
        'KEK_PREVIOUS',
        `KEK_PREVIOUS entry ${i + 1} must be base64 or base64url of exactly 32 bytes`,
      );
    }
    return decoded;
  });
}

export function tenantKeysConfig(env: NodeJS.ProcessEnv, int: Int, fail: Fail): TenantKeysConfig {
  const provider = read(env, 'KMS_PROVIDER') ?? 'local';
  if (provider !== 'local' && provider !== 'aws-kms') {
    throw fail(
      'KMS_PROVIDER',
      `KMS_PROVIDER must be one of local, aws-kms (got ${JSON.stringify(provider.slice(0, 60))})`,
    );
  }
  let aws: TenantKeysConfig['aws'];
  if (provider === 'aws-kms') {
    const keyId = read(env, 'AWS_KMS_KEY_ID');
    if (!keyId || !KMS_KEY_ID.test(keyId)) {
      throw fail(
        'AWS_KMS_KEY_ID',
        'AWS_KMS_KEY_ID must be a KMS key id, key ARN or alias when KMS_PROVIDER=aws-kms',
      );
    }
    const region = read(env, 'AWS_REGION');
    if (!region || !REGION.test(region)) {
      throw fail(
        'AWS_REGION',
        'AWS_REGION must be an AWS region such as eu-west-1 when KMS_PROVIDER=aws-kms',
      );
    }
    const endpoint = read(env, 'AWS_KMS_ENDPOINT');
    if (endpoint !== undefined) {
      let ok = false;
      try {
        const u = new URL(endpoint);
        ok = (u.protocol === 'https:' || u.protocol === 'http:') && !u.username && !u.password;
      } catch {
        ok = false;
      }
      if (!ok)
        throw fail(
          'AWS_KMS_ENDPOINT',
          'AWS_KMS_ENDPOINT must be an http:// or https:// URL without credentials',
        );
    }
    aws = { keyId, region, endpoint };
  }
  const kekPrevious = previousKeks(env, fail);
  const vaultRaw = read(env, 'KEY_VAULT_DATABASE_URL');
  let keyVaultUrl: string | undefined;
  if (vaultRaw !== undefined) {
    let ok = false;
    try {
      const u = new URL(vaultRaw);
      ok = (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.username !== '';
    } catch {
      ok = false;
    }
    if (!ok) {
      throw fail(
        'KEY_VAULT_DATABASE_URL',
        'KEY_VAULT_DATABASE_URL must be a postgres:// or postgresql:// URL with a user name',
      );
    }
    keyVaultUrl = vaultRaw;
  }
  const keyCacheTtlMs = int('TENANT_KEY_CACHE_TTL_SECONDS', 300, 0, 300) * 1000;
  return { kmsProvider: provider, aws, kekPrevious, keyVaultUrl, keyCacheTtlMs };
}
