import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * Single sign-on follow-ups (docs/saml.md, docs/sso.md):
 *
 * - `sso_connections.saml_email_attribute`: the SAML attribute holding the user's email address; null
 *   keeps the NameID (emailAddress format) as the address.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await sql`alter table sso_connections add column saml_email_attribute text
    check (saml_email_attribute is null or char_length(saml_email_attribute) between 1 and 256)`.execute(db);
}
