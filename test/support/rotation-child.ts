/**
 * A separate process running one organization's key re-encryption (rotation.test.ts kills it with
 * SIGKILL mid-run). Env: ROT_DB_URL (runtime role), ROT_VAULT_URL, ROT_KEK (base64url), ROT_ORG,
 * ROT_TABLE. Prints `batch <rows>` after each committed batch and goes straight on with the next, so
 * a kill on reading that line lands while a later batch is in flight.
 */
import { createTenancy } from '../../src/platform/tenancy/tenancy.js';
import { createKeyVault } from '../../src/platform/tenant-keys/key-vault.js';
import { createLocalKms } from '../../src/platform/tenant-keys/kms-local.js';
import { createTenantSealer } from '../../src/platform/tenant-keys/tenant-sealer.js';
import { createKeyRotation } from '../../src/platform/tenant-keys/rotation.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const tenancy = createTenancy({ url: env('ROT_DB_URL'), poolSize: 2 });
const vault = createKeyVault({ url: env('ROT_VAULT_URL') });
const kms = createLocalKms(Buffer.from(env('ROT_KEK'), 'base64url'));
const sealer = createTenantSealer({ vault, kms, cacheTtlMs: 0 });
const rotation = createKeyRotation({
  vault,
  kms,
  sealer,
  withTenant: tenancy.withTenant,
  keysChanged: (org) => sealer.forget(org),
  columns: [{ table: env('ROT_TABLE'), column: 'secret', idColumn: 'id' }],
  cacheTtlMs: 0,
  afterBatch: ({ rows }) => {
    process.stdout.write(`batch ${rows}\n`);
  },
});
await rotation.reencryptOrganization(env('ROT_ORG'));
process.stdout.write('finished\n');
await vault.close();
await tenancy.close();
