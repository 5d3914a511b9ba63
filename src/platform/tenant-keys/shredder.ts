import type { TenantKeyShredder } from './contract.js';
import type { KeyVault } from './key-vault.js';
import { isTenantId } from '../tenancy/context.js';

/**
 * Crypto-shredding (ISOLATION.md invariant 8: a named privileged path; its caller, the organization
 * deletion workflow, audits it). Erases every wrapped data key of the organization from the key vault
 * and leaves tombstones, so the organization never gets a new key, and the organization's key of the
 * sealed address and agent of its API keys' audit events (src/platform/user-keys/); then every instance
 * drops its cached copies (`keysChanged` publishes on the invalidation bus).
 */
export function createTenantKeyShredder(deps: {
  vault: KeyVault;
  keysChanged: (organizationId: string) => void;
}): TenantKeyShredder {
  return {
    async destroyOrganizationKeys(organizationId) {
      if (!isTenantId(organizationId)) throw new TypeError('destroyOrganizationKeys: not an organization id');
      const destroyed = await deps.vault.destroyAll(organizationId);
      // And its key of the personal fields its API keys' requests left in its audit chain.
      await deps.vault.persons.destroyForGood(organizationId, 'organization');
      deps.keysChanged(organizationId);
      return { destroyed };
    },
  };
}
