import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * A placement move copies an organization's rows with their exact values through the definer role
 * (`app_priv_placement_move_*`, migration 0040), which therefore holds INSERT and UPDATE on every placed
 * table. 0040 granted them on the placed tables of its day; the tables of single sign-on (0055), SAML (0056)
 * and SCIM (0057) move with their organization too and were created without them, so a move of any
 * organization stopped at its copying step ("permission denied for table saml_assertion_replays").
 * `placed-tables.test.ts` now checks the grant on every placed table, so the next table cannot miss it.
 */
const TABLES = [
  'sso_identities',
  'saml_pending_requests',
  'saml_assertion_replays',
  'scim_tokens',
  'scim_users',
  'scim_groups',
  'scim_group_members',
  'scim_events',
];

export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  for (const t of TABLES) {
    await sql`grant insert, update on ${sql.id(t)} to ${sql.id(ctx.roles.definer)}`.execute(db);
  }
}
