import type pg from 'pg';
import type { RoleNames } from '../../platform/db/bootstrap.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { KeyVault } from '../../platform/tenant-keys/key-vault.js';
import type { Kms } from '../../platform/tenant-keys/kms.js';
import type { ComposeOptions } from '../compose/options.js';

/** What compose.ts hands to the services' factories (src/app/services.ts and the files beside it). */
export interface ServiceDeps {
  tenancy: Tenancy;
  platformDb: PlatformDb;
  opts: ComposeOptions;
  tenantKeys: { vault: KeyVault; kms: Kms };
  /** The owner role's pool (placement moves), when the server has the owner's credentials. */
  owner?: { pool: pg.Pool; roles: RoleNames };
}
