import type { Permission } from '../../platform/authz/permissions.js';
import type { ArchiveDownload } from './archive.js';
import type { ExportLinks } from './export-link.js';
import type { AccountActor, AccountExportsService } from './account-exports.service.js';
import type { OrganizationExportsService } from './organization-exports.service.js';
import { exportNotFound, GdprError } from './gdpr.errors.js';

/** The permission an organization export needs (held by owners only among the built-in roles). */
export const EXPORT_PERMISSION: Permission = 'org:export';

/**
 * Following a signed download link (`GET /v1/exports/download?token=…`), on a `user` route so the link
 * works only in the session (or with the access token) of the user it was signed for:
 * - malformed or forged: 401 EXPORT_LINK_INVALID; past its expiry: 401 EXPORT_LINK_EXPIRED;
 * - signed for another user, or an organization the user no longer holds `org:export` in or that is
 *   being deleted, or an export not ready (expired, purged): 404 EXPORT_NOT_FOUND, as for an export that
 *   does not exist; an organization suspended: 403 ORGANIZATION_SUSPENDED, as on its tenant routes (a
 *   pending deletion still downloads: exporting is what that grace period is for).
 */
export function createExportDownloads(deps: {
  links: ExportLinks;
  organizations: OrganizationExportsService;
  accounts: AccountExportsService;
  /** The user's ACTIVE membership permissions in the organization, null without one. */
  permissionsIn: (orgId: string, userId: string) => Promise<ReadonlySet<Permission> | null>;
  /**
   * Whether the user may still enter the organization by its lifecycle, as tenant resolution decides for
   * a read (false: as missing; throws a refusal such as ORGANIZATION_SUSPENDED). The download is a `user`
   * route, so tenant resolution never runs for it: without this a link minted before a suspension kept
   * working for its whole lifetime.
   */
  admitted: (orgId: string) => Promise<boolean>;
}) {
  return {
    async download(who: AccountActor, token: string): Promise<ArchiveDownload> {
      const check = deps.links.verify(token);
      if (!check.ok) {
        throw check.reason === 'expired'
          ? new GdprError('EXPORT_LINK_EXPIRED', 'this download link has expired: get a new one')
          : new GdprError('EXPORT_LINK_INVALID', 'this download link is not valid');
      }
      const { claims } = check;
      if (claims.user !== who.userId) throw exportNotFound();
      if (claims.kind === 'account') return deps.accounts.download(who, claims.exportId);
      const org = claims.org!;
      const permissions = await deps.permissionsIn(org, who.userId);
      if (!permissions?.has(EXPORT_PERMISSION)) throw exportNotFound();
      if (!(await deps.admitted(org))) throw exportNotFound();
      return deps.organizations.download(org, who.userId, claims.exportId);
    },
  };
}

export type ExportDownloads = ReturnType<typeof createExportDownloads>;
