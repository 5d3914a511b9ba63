import type pg from 'pg';
import { isTenantId } from './context.js';

/**
 * Tables with `organization_id` that stay in `public` for EVERY organization, whatever its placement:
 * the identity side, read before a tenant (and so its placement) is known, or by the placement lookup
 * itself. Every other table of `public` with `organization_id` is PLACED: a schema placement keeps the
 * organization's rows of it in its own schema (docs/isolation-models.md).
 */
export const DIRECTORY_TABLES: Readonly<Record<string, string>> = {
  organizations: 'the directory of tenants itself: slugs and domains resolve to an organization here',
  memberships: "who belongs where: read to check a session's organization before it is the tenant",
  invitations: 'looked up by token by someone who is not yet a member (no tenant known)',
  api_keys: 'looked up by key prefix to find the tenant a request runs as',
  tenant_placements: 'where the tenant lives: read before its placement can be applied',
  stripe_customers: 'looked up by Stripe customer id when a Stripe webhook arrives (no tenant known)',
  api_key_lookup: 'the global lookup of API key ids (migration 0047): the organization a key belongs to',
  invitation_lookup:
    'the global lookup of invitation token hashes (migration 0047): read before a tenant is known',
  stripe_customer_lookup:
    'the global lookup of Stripe customer ids (migration 0047): read when a webhook arrives',
  sso_connections: 'read by connection id when an IdP answers a sign-in, before a tenant is known (0055)',
  sso_connection_lookup:
    'the global lookup of SSO connection ids (migration 0055): read before a tenant is known',
  organization_domains: 'read by domain for home-realm discovery and the require-SSO check (0055)',
  verified_domain_lookup:
    'the global lookup of verified domains (migration 0055): one organization per domain',
  placement_moves:
    'the record of an online move between placements: read and written by the move itself on both sides of its switch',
};

/**
 * The placed tables: every ordinary or partitioned table of `public` with an `organization_id` column,
 * partitions aside (they follow their parent), minus the directory. `$1` is the directory's names.
 * Read from the catalog, never listed by hand: a table a migration adds is placed from that migration on.
 */
export const PLACED_TABLES_SQL = `select c.relname::text as name
   from pg_catalog.pg_class c
  where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
    and exists (select 1 from pg_catalog.pg_attribute a
                 where a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped)
    and c.relname <> all ($1::text[])
  order by 1`;

/** The placed tables' names, in name order. */
export async function placedTables(client: pg.ClientBase): Promise<string[]> {
  const res = await client.query<{ name: string }>(PLACED_TABLES_SQL, [Object.keys(DIRECTORY_TABLES)]);
  return res.rows.map((r) => r.name);
}

/** The schema of an organization placed in `schema`: `t_<its uuid in 32 hex>`, the same derivation as
 *  SQL `app_tenant_schema_name` (migration 0038). Only ever from a validated organization id. */
export function tenantSchemaName(orgId: string): string {
  if (!isTenantId(orgId)) {
    throw new Error('tenant schema name: organization id must be a canonical lowercase UUID');
  }
  return `t_${orgId.replaceAll('-', '')}`;
}
