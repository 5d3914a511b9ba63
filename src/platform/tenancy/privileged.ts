import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * The named privileged operations: the only ways to look across tenants. Each calls one SECURITY DEFINER
 * function owned by the NOLOGIN definer role (see migration 0001), answers one narrow question, and is
 * logged with its name. There is no general bypass.
 */
export interface PrivilegedOps {
  /** Resolves an organization slug to its id (tenant resolution by path segment or subdomain; the
   *  caller must still check the principal's membership). */
  organizationIdBySlug(slug: string): Promise<string | null>;
  /** Pages through every organization id, for scheduled work such as purges. */
  listOrganizationIds(after: string | null, limit: number): Promise<string[]>;
}

/** Builds the privileged operations on the runtime pool of the control database. */
export function createPrivilegedOps(pool: pg.Pool, log?: Logger): PrivilegedOps {
  const audit = (op: string, detail: Record<string, unknown>) =>
    log?.info({ privileged_operation: op, ...detail }, 'privileged operation');
  return {
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
  };
}
