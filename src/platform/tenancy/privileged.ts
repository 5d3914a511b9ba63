import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * The named privileged operations: the only ways to look across tenants. Each calls one SECURITY DEFINER
 * function owned by the NOLOGIN definer role (see migration 0001), answers one narrow question, and is
 * logged with its name. There is no general bypass.
 */
export interface PrivilegedOps {
  /** Which organization and invitation an invitation token (its SHA-256) belongs to: accepting a link
   *  happens before the tenant is known. */
  invitationByToken(tokenHash: Buffer): Promise<{ organizationId: string; invitationId: string } | null>;
  /** Resolves an organization slug to its id (tenant resolution by path segment or subdomain; the
   *  caller must still check the principal's membership). */
  organizationIdBySlug(slug: string): Promise<string | null>;
  /** Pages through every organization id, for scheduled work such as purges. */
  listOrganizationIds(after: string | null, limit: number): Promise<string[]>;
  /** Platform administration: organizations newest first, with member counts. */
  platformOrganizations(after: string | null, limit: number): Promise<PlatformOrganizationRow[]>;
  /** The organizations a user is an ACTIVE member of (none marked for deletion), with the user's role,
   *  ordered by name then id; `after` continues strictly after that (name, id). "My organizations". */
  userOrganizations(
    userId: string,
    page?: { after?: { name: string; id: string } | null; limit?: number },
  ): Promise<UserOrganizationRow[]>;
  /** What authenticating an API key needs, found by its public key id (the key names its organization;
   *  the caller verifies the secret against `secretHash`). Null when no key has that id. */
  apiKeyByKeyId(keyId: string): Promise<ApiKeyAuthRow | null>;
  /** Organizations whose audit chain moved since their last checkpoint signed with `keyId`, by id
   *  (the hourly checkpoint job; nothing else about them). */
  auditChainsToCheckpoint(keyId: string, after: string | null, limit: number): Promise<string[]>;
}

/** An API key as authentication sees it. */
export interface ApiKeyAuthRow {
  organizationId: string;
  id: string;
  secretHash: Buffer;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  rateLimitPerMinute: number | null;
}

/** A row of a user's organization list. */
export interface UserOrganizationRow {
  organizationId: string;
  slug: string;
  name: string;
  role: string;
  personal: boolean;
}

/** A row of the platform administrators' organization list. */
export interface PlatformOrganizationRow {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  created_at: Date;
  suspended_at: Date | null;
  deletion_requested_at: Date | null;
  members: string;
}

/** Builds the privileged operations on the runtime pool of the control database. */
export function createPrivilegedOps(pool: pg.Pool, log?: Logger): PrivilegedOps {
  const audit = (op: string, detail: Record<string, unknown>) =>
    log?.info({ privileged_operation: op, ...detail }, 'privileged operation');
  return {
    async invitationByToken(tokenHash) {
      audit('invitation_by_token', {});
      const res = await pool.query<{ organization_id: string; invitation_id: string }>(
        'select organization_id, invitation_id from app_priv_invitation_by_token($1)',
        [tokenHash],
      );
      const row = res.rows[0];
      return row ? { organizationId: row.organization_id, invitationId: row.invitation_id } : null;
    },
    async organizationIdBySlug(slug) {
      audit('organization_id_by_slug', { slug });
      const res = await pool.query<{ id: string | null }>(
        'select app_priv_organization_id_by_slug($1) as id',
        [slug],
      );
      return res.rows[0]?.id ?? null;
    },
    async listOrganizationIds(after, limit) {
      audit('list_organization_ids', { after, limit });
      const res = await pool.query<{ id: string }>('select id from app_priv_list_organization_ids($1, $2)', [
        after,
        limit,
      ]);
      return res.rows.map((r) => r.id);
    },
    async platformOrganizations(after, limit) {
      audit('platform_organizations', { after, limit });
      const res = await pool.query<PlatformOrganizationRow>(
        'select * from app_priv_platform_organizations($1, $2)',
        [after, limit],
      );
      return res.rows;
    },
    async userOrganizations(userId, page) {
      const limit = Math.min(Math.max(page?.limit ?? 100, 1), 1000);
      const after = page?.after ?? null;
      audit('user_organizations', { user: userId, after: after?.id ?? null, limit });
      const res = await pool.query<UserOrganizationRow>(
        `select organization_id as "organizationId", slug, name, role, personal
           from app_priv_user_organizations($1)
          where $2::text is null or (name, organization_id) > ($2::text, $3::uuid)
          order by name, organization_id limit $4`,
        [userId, after?.name ?? null, after?.id ?? null, limit],
      );
      return res.rows;
    },
    async auditChainsToCheckpoint(keyId, after, limit) {
      audit('audit_chains_to_checkpoint', { after, limit });
      const res = await pool.query<{ organization_id: string }>(
        'select organization_id from app_priv_audit_chains_to_checkpoint($1, $2, $3)',
        [keyId, after, limit],
      );
      return res.rows.map((r) => r.organization_id);
    },
    async apiKeyByKeyId(keyId) {
      audit('api_key_by_key_id', { key_id: keyId });
      const res = await pool.query<{
        organization_id: string;
        id: string;
        secret_hash: Buffer;
        scopes: string[];
        expires_at: Date | null;
        revoked_at: Date | null;
        rate_limit_per_minute: number | null;
      }>('select * from app_priv_api_key_by_key_id($1)', [keyId]);
      const row = res.rows[0];
      return row
        ? {
            organizationId: row.organization_id,
            id: row.id,
            secretHash: row.secret_hash,
            scopes: row.scopes,
            expiresAt: row.expires_at,
            revokedAt: row.revoked_at,
            rateLimitPerMinute: row.rate_limit_per_minute,
          }
        : null;
    },
  };
}
