import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { PlatformDb } from '../db/platform-db.js';
import type { SsoConnectionsTable } from '../db/schema.js';
import type { Selectable } from 'kysely';

/**
 * The named privileged paths of single sign-on (migration 0055), beside the others of privileged.ts. Each
 * calls one SECURITY DEFINER function that refuses inside a tenant scope; each finds an organization
 * before any tenant is known, from something that names one organization only (a connection id, a
 * verified domain, a slug).
 */
export type SsoConnectionRow = Selectable<SsoConnectionsTable>;

export interface SsoDiscovery {
  organizationId: string;
  requireSso: boolean;
  /** The organization's active connection (the oldest), or null when it has none. */
  connectionId: string | null;
  kind: 'oidc' | 'saml' | null;
}

export interface SsoPrivilegedOps {
  /** The connection a sign-in names (callback, ACS, start), from `sso_connection_lookup`. */
  connectionForSignIn(connectionId: string): Promise<SsoConnectionRow | null>;
  /** The organization that verified `domain` (or, with `slug`, the organization of that slug). */
  discover(by: { domain: string } | { slug: string }): Promise<SsoDiscovery | null>;
  /** The organization requiring SSO of this user for an address at `domain` (none: no such rule). */
  ssoRequiredFor(userId: string, domain: string): Promise<{ organizationId: string; slug: string } | null>;
}

export function createSsoPrivilegedOps(db: PlatformDb, log?: Logger): SsoPrivilegedOps {
  const audit = (op: string, detail: Record<string, unknown>) =>
    log?.info({ privileged_operation: op, ...detail }, 'privileged operation');
  return {
    async connectionForSignIn(connectionId) {
      audit('sso_connection_for_sign_in', { connection_id: connectionId });
      const res =
        await sql<SsoConnectionRow>`select * from app_priv_sso_connection_for_sign_in(${connectionId}::uuid)`.execute(
          db,
        );
      return res.rows[0] ?? null;
    },
    async discover(by) {
      audit('sso_discover', 'domain' in by ? { domain: by.domain } : { slug: by.slug });
      const domain = 'domain' in by ? by.domain : null;
      const slug = 'slug' in by ? by.slug : null;
      const res = await sql<{
        organization_id: string;
        require_sso: boolean;
        connection_id: string | null;
        kind: 'oidc' | 'saml' | null;
      }>`select * from app_priv_sso_discover(${domain}, ${slug})`.execute(db);
      const r = res.rows[0];
      return r
        ? {
            organizationId: r.organization_id,
            requireSso: r.require_sso,
            connectionId: r.connection_id,
            kind: r.kind,
          }
        : null;
    },
    async ssoRequiredFor(userId, domain) {
      const res = await sql<{
        organization_id: string;
        slug: string;
      }>`select * from app_priv_sso_required_for(${userId}::uuid, ${domain})`.execute(db);
      const r = res.rows[0];
      return r ? { organizationId: r.organization_id, slug: r.slug } : null;
    },
  };
}
