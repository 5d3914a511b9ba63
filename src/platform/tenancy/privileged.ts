import type pg from 'pg';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { PlatformScope } from './platform-scope.js';

/**
 * The named privileged operations: the only ways to look across tenants. Each calls one SECURITY DEFINER
 * function owned by the NOLOGIN definer role (migrations 0001-0009), answers one narrow question, and is
 * logged with its name. There is no general bypass. Each function's contract is enforced by the function
 * itself, in the database (so an injected statement of the runtime role gets no more than the contract):
 * every one of them refuses inside a tenant scope (`app.tenant_id` set) except `app_audit_append`, which
 * refuses OUTSIDE the scope of its own organization.
 */
export interface PrivilegedOps {
  /** Which organization and invitation an invitation token belongs to: accepting a link happens before
   *  the tenant is known. Contract: the caller proves the token (its SHA-256); outside any tenant scope. */
  invitationByToken(tokenHash: Buffer): Promise<{ organizationId: string; invitationId: string } | null>;
  /** Resolves an organization slug to its id (tenant resolution by path segment or subdomain; the
   *  caller must still check the principal's membership). Contract: outside any tenant scope (slugs are
   *  public names; the id alone opens nothing). */
  organizationIdBySlug(slug: string): Promise<string | null>;
  /** Platform administration: organizations newest first, with member counts. Contract: only inside the
   *  platform scope of a platform administrator (`withPlatformScope`). */
  platformOrganizations(
    scope: PlatformScope,
    after: string | null,
    limit: number,
  ): Promise<PlatformOrganizationRow[]>;
  /** The organizations a user is an ACTIVE member of (none marked for deletion), with the user's role,
   *  ordered by name then id; `after` continues strictly after that (name, id). "My organizations".
   *  Contract: only for the user the caller proves with `proof` (a live credential of that user);
   *  outside any tenant scope. The database refuses (throws) without a valid proof. */
  userOrganizations(
    userId: string,
    proof: UserProof,
    page?: { after?: { name: string; id: string } | null; limit?: number },
  ): Promise<UserOrganizationRow[]>;
  /** What authenticating an API key needs, found by its public key id AND the SHA-256 of the presented
   *  secret: null unless a key has that id and that secret (the stored hash is never returned).
   *  Contract: outside any tenant scope. */
  apiKeyByKeyId(keyId: string, secretHash: Buffer): Promise<ApiKeyAuthRow | null>;
  /** Organizations whose audit chain moved since their last checkpoint signed with `keyId`, by id
   *  (the hourly checkpoint job; nothing else about them). Contract: outside any tenant scope. */
  auditChainsToCheckpoint(keyId: string, after: string | null, limit: number): Promise<string[]>;
}

/**
 * How a caller proves the user of `userOrganizations`: the SHA-256 of the session token the request
 * presented (a live, unrevoked, unexpired session of that user), or the refresh-token family an access
 * token names (live: a token of it unused, unrevoked, unexpired).
 */
export type UserProof =
  | { readonly kind: 'session'; readonly tokenHash: Buffer }
  | { readonly kind: 'refresh_family'; readonly familyId: string };

/** An API key as authentication sees it. */
export interface ApiKeyAuthRow {
  organizationId: string;
  id: string;
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
    async platformOrganizations(scope, after, limit) {
      audit('platform_organizations', { after, limit });
      const res =
        await sql<PlatformOrganizationRow>`select * from app_priv_platform_organizations(${after}, ${limit})`.execute(
          scope,
        );
      return res.rows;
    },
    async userOrganizations(userId, proof, page) {
      const limit = Math.min(Math.max(page?.limit ?? 100, 1), 1000);
      const after = page?.after ?? null;
      audit('user_organizations', { user: userId, proof: proof.kind, after: after?.id ?? null, limit });
      const res = await pool.query<UserOrganizationRow>(
        `select organization_id as "organizationId", slug, name, role, personal
           from app_priv_user_organizations($1, $2, $3)
          where $4::text is null or (name, organization_id) > ($4::text, $5::uuid)
          order by name, organization_id limit $6`,
        [
          userId,
          proof.kind === 'session' ? proof.tokenHash : null,
          proof.kind === 'refresh_family' ? proof.familyId : null,
          after?.name ?? null,
          after?.id ?? null,
          limit,
        ],
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
    async apiKeyByKeyId(keyId, secretHash) {
      audit('api_key_by_key_id', { key_id: keyId });
      const res = await pool.query<{
        organization_id: string;
        id: string;
        scopes: string[];
        expires_at: Date | null;
        revoked_at: Date | null;
        rate_limit_per_minute: number | null;
      }>('select * from app_priv_api_key_by_key_id($1, $2)', [keyId, secretHash]);
      const row = res.rows[0];
      return row
        ? {
            organizationId: row.organization_id,
            id: row.id,
            scopes: row.scopes,
            expiresAt: row.expires_at,
            revokedAt: row.revoked_at,
            rateLimitPerMinute: row.rate_limit_per_minute,
          }
        : null;
    },
  };
}
