import { createSecretBox } from '../crypto/secret-box.js';
import { randomBytes } from 'node:crypto';
import type { KmsProvider } from '../tenant-keys/contract.js';

/** The key id of the local KEK (there is one; rotating it is the tenant-keys module's KEK rotation). */
const LOCAL_KEK_ID = 'local';
const WRAP_CONTEXT = 'user_keys.wrapped';

/**
 * The `local` KMS provider of the tenant-keys contract over the deployment's KEK (`Secrets['kek']`):
 * data keys are wrapped with AES-256-GCM under it (secret-box format, bound to their purpose). Used for
 * the per-user keys of the audit log's personal fields until the tenant-keys module's providers are
 * merged, which implement the same interface (AWS KMS included) and replace it in composition.
 */
export function createLocalKms(kek: Buffer): KmsProvider {
  const box = createSecretBox(kek);
  const wrap = (plaintext: Buffer) => Buffer.from(box.seal(plaintext, WRAP_CONTEXT), 'utf8');
  const unwrap = (wrapped: Buffer, kekId: string) => {
    if (kekId !== LOCAL_KEK_ID) throw new Error(`unknown key-encryption key "${kekId}"`);
    return box.open(wrapped.toString('utf8'), WRAP_CONTEXT);
  };
  return {
    name: 'local',
    async generateDataKey() {
      const plaintext = randomBytes(32);
      return { plaintext, wrapped: wrap(plaintext), kekId: LOCAL_KEK_ID };
    },
    async decrypt(wrapped, kekId) {
      return unwrap(wrapped, kekId);
    },
    async encrypt(plaintext) {
      return { wrapped: wrap(plaintext), kekId: LOCAL_KEK_ID };
    },
    async reEncrypt(wrapped, kekId) {
      return { wrapped: wrap(unwrap(wrapped, kekId)), kekId: LOCAL_KEK_ID };
    },
  };
}
