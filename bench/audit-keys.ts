import { randomBytes } from 'node:crypto';
import { usePersonalDataKeys } from '../src/platform/audit/personal-fields.js';
import { createKeyVault, type KeyVault } from '../src/platform/tenant-keys/key-vault.js';
import { createLocalKms } from '../src/platform/tenant-keys/kms-local.js';
import type { Tenancy } from '../src/platform/tenancy/tenancy.js';
import { createUserKeyStore } from '../src/platform/user-keys/user-keys.js';

/**
 * As the composition does (src/app/services.ts): every audit event of a user actor seals its IP and user
 * agent under the user's personal key, the keys living in the key vault as in the server. Returns the key
 * vault, for the bench to close at its end.
 */
export async function sealPersonalFieldsAsTheServer(
  tenancy: Tenancy,
  keyVaultUrl: string,
): Promise<KeyVault> {
  const keyVault = createKeyVault({ url: keyVaultUrl });
  await keyVault.ensureSchema();
  usePersonalDataKeys(
    tenancy.control.db,
    createUserKeyStore({
      kms: createLocalKms(randomBytes(32)),
      vault: keyVault.persons,
      subjectSecret: randomBytes(32),
    }),
  );
  return keyVault;
}
