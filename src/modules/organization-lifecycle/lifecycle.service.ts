import type { Logger } from 'pino';
import {
  platformSessionToken,
  recordPlatformAudit,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import {
  expediteOrganizationDeletion,
  platformOrganizationsPendingDeletion,
  type PendingDeletionRow,
} from '../../platform/tenancy/privileged-deletion.js';
import { LifecycleError } from './lifecycle.errors.js';

/** An organization pending deletion as platform administrators see it. */
export interface PendingDeletionOrganization {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  members: number;
  /** `pending_deletion` (cancellable, expeditable), or `deleting` while the hard delete runs. */
  state: 'pending_deletion' | 'deleting';
  deletionRequestedAt: string;
  deletionDueAt: string;
}

export interface OrganizationLifecycleService {
  /** Organizations pending deletion (and being deleted), soonest due first, cursor-paginated. */
  listPendingDeletion(
    who: PlatformActor,
    opts: { limit?: number; cursor?: string },
  ): Promise<Page<PendingDeletionOrganization>>;
  /**
   * Makes a pending deletion due now (the deletion job picks it up on its next run, within 5 minutes),
   * confirmed by the organization's slug typed by the administrator. Audited in the platform chain
   * (`organization.deletion_expedited`), in the same transaction. 404 for no such organization (or one
   * being deleted already counts as `deleting`: 409), 409 unless pending deletion, 400 on a wrong slug.
   */
  expediteDeletion(
    who: PlatformActor,
    orgId: string,
    confirmSlug: string,
  ): Promise<{ id: string; deletionDueAt: string }>;
}

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([0-9a-f-]{36})$/;
const keyOf = (r: PendingDeletionRow) => `${r.deletion_due_at.toISOString()}|${r.id}`;
const notFound = () => new LifecycleError('PLATFORM_ORGANIZATION_NOT_FOUND', 'organization not found');

export function createOrganizationLifecycleService(deps: {
  platformDb: PlatformDb;
  /** Drop the organization from every instance's caches (its deletion became due). */
  organizationChanged: (orgId: string) => void;
  log: Logger;
}): OrganizationLifecycleService {
  return {
    async listPendingDeletion(who, opts) {
      const limit = pageLimit(opts.limit);
      const key = decodeCursor(opts.cursor, (k) => {
        const m = CURSOR.exec(k);
        return !!m && isTenantId(m[2]!) && !Number.isNaN(Date.parse(m[1]!));
      });
      const m = key ? CURSOR.exec(key) : null;
      const after = m ? { due: new Date(m[1]!), id: m[2]! } : null;
      const rows = await withPlatformScope(deps.platformDb, platformSessionToken(who), (scope) =>
        platformOrganizationsPendingDeletion(scope, after, limit + 1),
      );
      return toPage(rows, limit, keyOf, (r) => ({
        id: r.id,
        slug: r.slug,
        name: r.name,
        personal: r.personal,
        members: Number(r.members),
        state: r.lifecycle_state,
        deletionRequestedAt: r.deletion_requested_at.toISOString(),
        deletionDueAt: r.deletion_due_at.toISOString(),
      }));
    },

    async expediteDeletion(who, orgId, confirmSlug) {
      if (!isTenantId(orgId)) throw notFound();
      const due = await withPlatformScope(deps.platformDb, platformSessionToken(who), async (scope) => {
        const r = await expediteOrganizationDeletion(scope, orgId, confirmSlug);
        if (!r) throw notFound();
        if (r.lifecycle_state !== 'pending_deletion') {
          throw new LifecycleError(
            'PLATFORM_ORGANIZATION_NOT_PENDING_DELETION',
            r.lifecycle_state === 'deleting'
              ? 'this organization is being deleted already'
              : 'this organization is not pending deletion',
          );
        }
        if (!r.slug_matches) {
          throw new LifecycleError(
            'PLATFORM_DELETION_CONFIRMATION_MISMATCH',
            "body.confirmSlug must be the organization's slug",
          );
        }
        await recordPlatformAudit(scope, who, {
          action: 'organization.deletion_expedited',
          target: { type: 'organization', id: orgId },
          changes: {
            before: { deletion_due_at: r.due_before?.toISOString() ?? null },
            after: { deletion_due_at: r.due_after?.toISOString() ?? null },
          },
        });
        return r.due_after!;
      });
      deps.organizationChanged(orgId);
      deps.log.info(
        { privileged_operation: 'expedite_organization_deletion', org: orgId },
        'deletion expedited',
      );
      return { id: orgId, deletionDueAt: due.toISOString() };
    },
  };
}
