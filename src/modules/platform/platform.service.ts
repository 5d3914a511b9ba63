import type { Logger } from 'pino';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { decodeCursor, encodeCursor, type Page } from '../../platform/pagination.js';
import type { PlatformOrganizationRow } from '../../platform/tenancy/privileged.js';
import { PlatformError } from './platform.errors.js';

/** An organization as platform administrators see it. */
export interface PlatformOrganization {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  members: number;
  createdAt: string;
  suspendedAt: string | null;
  deletionRequestedAt: string | null;
}

export interface PlatformService {
  /** Every organization, newest first (a named privileged read). */
  listOrganizations(opts: { limit?: number; cursor?: string }): Promise<Page<PlatformOrganization>>;
  /** Suspends or reactivates an organization: its members get 403 ORGANIZATION_SUSPENDED while suspended. */
  setSuspended(adminUserId: string, orgId: string, suspended: boolean): Promise<void>;
}

/** Platform administration (routes require a platform administrator; org roles do not count). */
export function createPlatformService(deps: {
  withTenant: WithTenant;
  platformOrganizations: (after: string | null, limit: number) => Promise<PlatformOrganizationRow[]>;
  invalidatePolicy: (orgId: string) => void;
  log: Logger;
}): PlatformService {
  return {
    async listOrganizations(opts) {
      const limit = Math.min(Math.max(opts.limit ?? 50, 1), 200);
      const after = decodeCursor(opts.cursor, isTenantId) ?? null;
      const rows = await deps.platformOrganizations(after, limit + 1);
      const more = rows.length > limit;
      const page = rows.slice(0, limit);
      return {
        data: page.map((r) => ({
          id: r.id,
          slug: r.slug,
          name: r.name,
          personal: r.personal,
          members: Number(r.members),
          createdAt: r.created_at.toISOString(),
          suspendedAt: r.suspended_at?.toISOString() ?? null,
          deletionRequestedAt: r.deletion_requested_at?.toISOString() ?? null,
        })),
        nextCursor: more && page.length ? encodeCursor(page[page.length - 1]!.id) : null,
      };
    },

    async setSuspended(adminUserId, orgId, suspended) {
      if (!isTenantId(orgId))
        throw new PlatformError('PLATFORM_ORGANIZATION_NOT_FOUND', 'organization not found');
      const updated = await deps.withTenant(orgId, (db) =>
        db
          .updateTable('organizations')
          .set({ suspended_at: suspended ? new Date() : null, updated_at: new Date() })
          .where('id', '=', orgId)
          .executeTakeFirst(),
      );
      if (updated.numUpdatedRows === 0n) {
        throw new PlatformError('PLATFORM_ORGANIZATION_NOT_FOUND', 'organization not found');
      }
      deps.invalidatePolicy(orgId);
      deps.log.info({
        privileged_operation: 'set_organization_suspended',
        org: orgId,
        suspended,
        admin: adminUserId,
      });
    },
  };
}
