import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/**
 * SAML sign-in (src/modules/sso/saml/README.md). Two tenant tables, both found only AFTER the
 * organization is known (the assertion consumer URL names the connection, and sso-core's named lookup
 * of the connection names its organization), so neither needs a global lookup:
 *
 * - `saml_pending_requests`: the AuthnRequest ids this service provider sent and has not yet seen
 *   answered (node-saml's cache provider, here a table so an answer may reach any instance). A response's
 *   `InResponseTo` must name one of the connection's, not expired; it is removed when consumed.
 * - `saml_assertion_replays`: the ids of assertions already accepted, kept until the assertion's
 *   `NotOnOrAfter` (plus the clock skew) has passed, after which the time checks refuse it anyway. The
 *   primary key `(organization_id, assertion_id)` makes a second acceptance of the same id fail.
 *
 * Expired rows are removed in the transaction of the organization's next verified response (explicit
 * organization filter) and by the organization purge, like every tenant table's.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await createTenantTable(db, ctx, {
    name: 'saml_pending_requests',
    columns: `request_id text not null check (char_length(request_id) between 1 and 256),
      connection_id uuid not null,
      flow_id text check (flow_id is null or char_length(flow_id) <= 256),
      return_to text not null check (char_length(return_to) between 1 and 2048),
      created_at timestamptz not null default now(),
      expires_at timestamptz not null`,
    primaryKey: ['request_id'],
  });
  await sql`create index saml_pending_requests_expiry on saml_pending_requests (organization_id, expires_at)`.execute(
    db,
  );
  await createTenantTable(db, ctx, {
    name: 'saml_assertion_replays',
    columns: `assertion_id text not null check (char_length(assertion_id) between 1 and 256),
      connection_id uuid not null,
      accepted_at timestamptz not null default now(),
      expires_at timestamptz not null`,
    primaryKey: ['assertion_id'],
  });
  await sql`create index saml_assertion_replays_expiry
    on saml_assertion_replays (organization_id, expires_at)`.execute(db);
  // Rows are added and removed, never changed.
  await sql`revoke update on saml_pending_requests, saml_assertion_replays from ${sql.id(ctx.roles.runtime)}`.execute(
    db,
  );
}
