/**
 * Every privilege the runtime role (the server's database role) holds, granted to it or to PUBLIC: the
 * database, schemas, tables, columns, sequences and functions (outside PostgreSQL's own schemas). The
 * catalog test `src/platform/tenancy/runtime-grants.test.ts` reads the real grants and fails on any grant
 * not listed here and on any listed one missing: a migration that grants something adds its line here, in
 * the same commit, with the reason. One line per object, privileges sorted: `<kind> <name>: <privileges>`
 * (`(PUBLIC)` marks a privilege held through PUBLIC; tables of `public` are named without their schema).
 */
export const RUNTIME_GRANTS: readonly string[] = [
  'database: CONNECT',
  'schema public: USAGE',

  // Migrations are read at start-up (`migrationsCurrent`); nothing else of Kysely's bookkeeping.
  'table kysely_migration: SELECT',

  // Global identity tables. `users` is readable; only the listed columns are writable, so the runtime
  // role cannot make anyone a platform administrator (`is_platform_admin`: the owner role, via the CLI),
  // and users are never deleted by the application.
  'table users: SELECT',
  'column users.id: INSERT',
  'column users.created_at: INSERT',
  'column users.email: INSERT, UPDATE',
  'column users.email_normalized: INSERT, UPDATE',
  'column users.password_hash: INSERT, UPDATE',
  'column users.email_verified_at: INSERT, UPDATE',
  'column users.credentials_changed_at: INSERT, UPDATE',
  'column users.last_organization_id: INSERT, UPDATE',
  'column users.totp_secret_enc: INSERT, UPDATE',
  'column users.totp_enabled_at: INSERT, UPDATE',
  'column users.totp_last_step: INSERT, UPDATE',
  'column users.two_factor_pending_secret_enc: INSERT, UPDATE',
  'column users.updated_at: INSERT, UPDATE',
  'column users.name: UPDATE', // the display name (migration 0013): set on the account page, not at sign-up
  'column users.erased_at: UPDATE', // erasure (migration 0028): the row stays as an anonymous tombstone
  'table sessions: DELETE, INSERT, SELECT, UPDATE', // expired sessions are purged
  'table email_tokens: DELETE, INSERT, SELECT, UPDATE',
  'table recovery_codes: DELETE, INSERT, SELECT, UPDATE',
  'table passkey_credentials: DELETE, INSERT, SELECT, UPDATE', // passkeys (migration 0059)
  'table passkey_challenges: DELETE, INSERT, SELECT, UPDATE', // single-use, deleted when used
  'table social_identities: DELETE, INSERT, SELECT, UPDATE', // social sign-in (migration 0058)
  'table social_sign_in_flows: DELETE, INSERT, SELECT', // consumed by deleting, never updated
  'table refresh_tokens: INSERT, SELECT, UPDATE', // revoked or used, never deleted by the application

  // Tenant tables (forced RLS). Organizations are created and changed in their own scope, never deleted
  // by the runtime role (deletion is scheduled work: the worker role's purge, migration 0026).
  // UPDATE on each column but the audit retention purge's own (`audit_retention_*`, 0069: the retention
  // a checkpoint signs is computed from them, and verification of legacy chains reads the recorded cut).
  'table organizations: INSERT, SELECT',
  'column organizations.attributes: UPDATE',
  'column organizations.created_at: UPDATE',
  'column organizations.deletion_due_at: UPDATE',
  'column organizations.deletion_requested_at: UPDATE',
  'column organizations.id: UPDATE',
  'column organizations.lifecycle_state: UPDATE',
  'column organizations.name: UPDATE',
  'column organizations.personal: UPDATE',
  'column organizations.plan: UPDATE',
  'column organizations.require_sso: UPDATE',
  'column organizations.require_two_factor: UPDATE',
  'column organizations.settings: UPDATE',
  'column organizations.slug: UPDATE',
  'column organizations.suspended_at: UPDATE',
  'column organizations.suspension_reason: UPDATE',
  'column organizations.updated_at: UPDATE',
  'table tenant_placements: INSERT, SELECT', // recorded once at creation, never moved by a tenant scope
  'table idempotency_keys: DELETE, INSERT, SELECT, UPDATE',
  'table projects: DELETE, INSERT, SELECT, UPDATE',
  'table memberships: DELETE, INSERT, SELECT, UPDATE',
  'table roles: DELETE, INSERT, SELECT, UPDATE',
  'table invitations: INSERT, SELECT, UPDATE', // revoked or accepted, never deleted
  'table invitation_sends: DELETE, INSERT, SELECT, UPDATE', // invitation mail counts (migration 0011)
  'table api_keys: INSERT, SELECT, UPDATE', // revoked, never deleted
  // The global lookups (migration 0047), written with their tenant row: forced RLS, no UPDATE (a row is
  // never pointed elsewhere); an invitation's is replaced when a resend replaces its token.
  'table api_key_lookup: INSERT, SELECT',
  'table invitation_lookup: DELETE, INSERT, SELECT',
  'table stripe_customer_lookup: INSERT, SELECT',
  // SCIM tokens' global lookup (migration 0057): a token is valid while its row exists; revocation deletes it.
  'table scim_token_lookup: DELETE, INSERT, SELECT',
  // Single sign-on (migration 0055): connections, domains and identities of the organization; the global
  // lookups of a connection id and of a verified domain (removed with the connection or the domain).
  'table sso_connections: DELETE, INSERT, SELECT, UPDATE',
  'table sso_connection_lookup: DELETE, INSERT, SELECT',
  'table organization_domains: DELETE, INSERT, SELECT, UPDATE',
  'table verified_domain_lookup: DELETE, INSERT, SELECT',
  'table sso_identities: DELETE, INSERT, SELECT, UPDATE',
  // Pending SP-initiated sign-ins: inserted at the start, consumed by one DELETE ... RETURNING.
  'table sso_flows: DELETE, INSERT, SELECT',
  'table feature_flag_overrides: DELETE, INSERT, SELECT, UPDATE',
  // Each organization's plan history (migration 0018): appended with each change, never rewritten.
  'table organization_plan_changes: INSERT, SELECT',
  // Audit: appended only through the definer functions below; read for listing and verification.
  'table audit_events: SELECT',
  'table audit_chain_heads: SELECT',
  // Events recorded with their write, waiting to be sealed into the chain (migration 0015): inserted and
  // read (verification counts them), never changed or deleted by the runtime role (only app_audit_seal).
  'table audit_pending: INSERT, SELECT',
  'table audit_checkpoints: INSERT, SELECT',
  'table platform_audit_events: SELECT',
  // An organization's online placement moves (0040): read only; the owner-only move functions write them.
  'table placement_moves: SELECT',
  'table platform_audit_head: SELECT',

  // Invoices (migration 0019): drafts inserted without number, status or dates, finalized only by
  // app_invoice_finalize, read; never updated or deleted by the runtime role (finalized ones are immutable).
  'table invoices: SELECT',
  'column invoices.organization_id: INSERT',
  'column invoices.id: INSERT',
  'column invoices.currency: INSERT',
  'column invoices.period_start: INSERT',
  'column invoices.period_end: INSERT',
  'column invoices.subtotal: INSERT',
  'column invoices.total: INSERT',
  'column invoices.lines: INSERT',
  'column invoices.minor_units: INSERT',
  'column invoices.customer_name: INSERT',
  'column invoices.issuer: INSERT',
  // The Stripe provider (migration 0021): each organization's customer and billing state (written by the
  // webhook and the grace job in its scope, never deleted); the meter-push ledger (appended, then marked
  // sent); the global ids of the webhook events applied (inserted in the transaction of their effects).
  // The customer id and the organization are written once (migration 0053): UPDATE on every other column.
  'table stripe_customers: INSERT, SELECT',
  'column stripe_customers.subscription_id: UPDATE',
  'column stripe_customers.subscription_started_at: UPDATE',
  'column stripe_customers.status: UPDATE',
  'column stripe_customers.status_event_at: UPDATE',
  'column stripe_customers.subscription_event_at: UPDATE',
  'column stripe_customers.grace_ends_at: UPDATE',
  'column stripe_customers.suspended_by_billing: UPDATE',
  'column stripe_customers.checkout_session_id: UPDATE',
  'column stripe_customers.created_at: UPDATE',
  'column stripe_customers.updated_at: UPDATE',
  'column stripe_customers.ended_subscription_ids: UPDATE',
  'column stripe_customers.subscription_ended_at: UPDATE',
  'column stripe_customers.failed_invoice_id: UPDATE',
  'table stripe_meter_pushes: INSERT, SELECT',
  'column stripe_meter_pushes.status: UPDATE',
  'column stripe_meter_pushes.sent_at: UPDATE',
  'column stripe_meter_pushes.attempts: UPDATE',
  'column stripe_meter_pushes.last_error: UPDATE',
  'table stripe_events: INSERT, SELECT',
  // Usage metering (migration 0017). Events are append-only: SELECT, and INSERT of every column but
  // `xid` (always the inserting transaction's id: the aggregator's watermark relies on it). The runtime
  // role holds privileges on the partitioned parent only, none on its daily partitions. Idempotency keys
  // are append-only too (purged by the worker role's definer function); aggregates are written only by
  // the aggregator (worker role, definer functions).
  'table usage_events: SELECT',
  'column usage_events.organization_id: INSERT',
  'column usage_events.id: INSERT',
  'column usage_events.meter: INSERT',
  'column usage_events.value: INSERT',
  'column usage_events.dimension: INSERT',
  'column usage_events.occurred_at: INSERT',
  'column usage_events.properties: INSERT',
  'table usage_event_keys: INSERT, SELECT',
  'table usage_aggregates: SELECT',
  // Distinct values of unique_count meters per month (migration 0063): written by the aggregator only.
  'table usage_unique_values: SELECT',
  // The aggregator's watermark (one row, no tenant data): a unique_count quota read adds the events of
  // its organization not aggregated yet (those at or above the horizon), so it stays exact (0063).
  'column usage_aggregator_state.horizon: SELECT',
  'column usage_aggregator_state.updated_at: SELECT',
  // Quota notices (migration 0020): one row per threshold mailed, inserted with the mails it queues; never
  // changed or deleted (the unique row is what makes each notice once per period).
  'table quota_notices: INSERT, SELECT',
  // Webhooks (migration 0025): endpoints are managed by their organization (secrets sealed); the outbox is
  // appended by recordAudit and only marked dispatched; deliveries are created and moved through their
  // states; the delivery log (attempts) is append-only.
  'table webhook_endpoints: DELETE, INSERT, SELECT, UPDATE',
  'table webhook_events: INSERT, SELECT',
  'column webhook_events.dispatched_at: UPDATE',
  'table webhook_deliveries: INSERT, SELECT, UPDATE',
  'table webhook_delivery_attempts: INSERT, SELECT',
  // SCIM directory sync (migration 0057): tokens (revoked, last used), the directory's users, groups and
  // members, and the append-only sync log.
  'table scim_tokens: DELETE, INSERT, SELECT, UPDATE',
  'table scim_users: DELETE, INSERT, SELECT, UPDATE',
  'table scim_groups: DELETE, INSERT, SELECT, UPDATE',
  'table scim_group_members: DELETE, INSERT, SELECT, UPDATE',
  'table scim_events: INSERT, SELECT',
  // SAML sign-in (migration 0056): pending AuthnRequest ids and accepted assertion ids, added and
  // removed (consumed or expired), never changed.
  'table saml_pending_requests: DELETE, INSERT, SELECT',
  'table saml_assertion_replays: DELETE, INSERT, SELECT',
  // Sealed values an organization's key rotation could not open (migration 0033): recorded, re-seen
  // (last_seen_at), and forgotten once their row holds another value.
  'table tenant_key_unreadable_values: DELETE, INSERT, SELECT, UPDATE',
  // GDPR exports (migration 0027): an organization's exports (tenant) and a user's own (global, keyed by
  // user like sessions), their progress updated by the export jobs; archive chunks replaced on a job's
  // retry. Expired archives are deleted by the retention job (worker role, definer function).
  'table organization_exports: INSERT, SELECT, UPDATE',
  'table organization_export_chunks: DELETE, INSERT, SELECT',
  'table account_exports: INSERT, SELECT, UPDATE',
  'table account_export_chunks: DELETE, INSERT, SELECT',
  // The meter catalog: read by ingestion; written only through the platform definer functions below.
  'table meters: SELECT',

  // Global feature flag definitions (platform routes).
  'table feature_flags: DELETE, INSERT, SELECT, UPDATE',
  // The plan catalog (migration 0018): read by tenant scopes (seat limits, entitlements); written only
  // through app_platform_plan_save / app_platform_plan_archive (platform scope).
  'table plans: SELECT',

  // Functions. The policy function and the audit trigger function (PostgreSQL's default EXECUTE for
  // PUBLIC; neither reveals or changes anything), then the named privileged paths (privileged.ts).
  'function app_current_tenant(): EXECUTE (PUBLIC)',
  'function app_audit_refuse_change(): EXECUTE (PUBLIC)',
  // The audit retention in force (0069): a pure function of its arguments, read when signing a checkpoint.
  'function app_audit_retention_in_force(integer,boolean,integer,timestamp with time zone,integer,timestamp with time zone): EXECUTE (PUBLIC)',
  'function app_audit_seal(uuid,integer,boolean): EXECUTE',
  // The in-process sealer's batches of several organizations, outside any tenant scope (0070).
  'function app_audit_seal_many(uuid[],integer,integer): EXECUTE',
  'function app_invoice_finalize(uuid,uuid): EXECUTE',
  // A database placement's finalization: the number (control database), then the invoice (0071).
  'function app_invoice_finalize(uuid,uuid,bigint): EXECUTE',
  'function app_invoice_number_next(uuid): EXECUTE',
  // The guarded prelude of a moving organization (0040, moving-setter.ts), and the move's lock key it takes.
  'function app_enter_moving_tenant(uuid,boolean): EXECUTE',
  'function app_placement_move_key(uuid): EXECUTE',
  // The same on a tenant database for a moving `database` organization (0078), and its check of the
  // organization's latest move record there (its scope's organization only).
  'function app_enter_moving_placed(uuid,boolean): EXECUTE',
  'function app_moving_tenant_elsewhere(uuid): EXECUTE',
  // Appends account.export_requested / _downloaded of an account export to the platform chain, building
  // the entry itself from the export (0033; the caller names only the export, action and request id).
  'function app_account_export_audit(uuid,text,text): EXECUTE',
  // Organization deletion (migration 0026): the platform administrators' expedite and pending list.
  'function app_platform_organization_expedite_deletion(uuid,text): EXECUTE',
  'function app_priv_platform_organizations_pending_deletion(timestamp with time zone,uuid,integer): EXECUTE',
  'function app_platform_plan_archive(text,boolean): EXECUTE',
  'function app_platform_plan_save(text,jsonb,boolean): EXECUTE',
  'function app_platform_user_memberships(uuid): EXECUTE',
  'function app_platform_audit_append(text,text,uuid,timestamp with time zone,text,text,text,text,text,text,text,text,jsonb,jsonb): EXECUTE',
  'function app_priv_api_key_by_key_id(text,bytea): EXECUTE',
  // Erasure: the organizations holding a SCIM record of the user, ids only (0067; a live credential of
  // that user or the platform scope).
  'function app_priv_erasure_directory_organizations(text,uuid,uuid): EXECUTE',
  'function app_priv_invitation_by_token(bytea): EXECUTE',
  'function app_priv_organization_id_by_slug(text): EXECUTE',
  // The SCIM token of a /scim/v2 request, by token id and secret hash (migration 0057).
  'function app_priv_scim_token(text,bytea): EXECUTE',
  // How many schema placements are behind the code's migrations, for /readyz: a count only (0042).
  'function app_priv_placements_behind(text): EXECUTE',
  'function app_priv_platform_meter_create(text,text,text,text,text): EXECUTE',
  'function app_priv_platform_meter_update(text,text,text,boolean): EXECUTE',
  'function app_priv_platform_organizations(uuid,integer,text): EXECUTE',
  // The placements of a page of that list (0060).
  'function app_priv_platform_placements(uuid[]): EXECUTE',
  'function app_priv_stripe_organization_by_customer(text): EXECUTE',
  // Single sign-on before a tenant is known (0055): the connection a callback names, home-realm
  // discovery, and whether a password sign-in must go through the organization's IdP.
  'function app_priv_sso_connection_for_sign_in(uuid): EXECUTE',
  'function app_priv_sso_discover(text,text): EXECUTE',
  'function app_priv_sso_required_for(uuid,text): EXECUTE',
  'function app_priv_user_organizations(text,uuid,uuid): EXECUTE',
  // Two-phase commit of `database` placements' scopes (0071): a scope's decision, and the resolver's
  // outcome, listing and forgetting of decisions (outside tenant scopes; split-connection.ts).
  'function app_tenant_commit_decide(text,text): EXECUTE',
  'function app_tenant_commit_forget(text[],text): EXECUTE',
  'function app_tenant_commit_outcome(text[],text): EXECUTE',
  'function app_tenant_commit_pending(text,double precision): EXECUTE',
  // The job queue: the runtime role's only way into it (migration 0010; the worker has its own role).
  'function app_enqueue_job(text,json,text,integer,timestamp with time zone): EXECUTE',
];

/**
 * The relations the runtime role can reach that are NOT tenant tables (no `organization_id`), each with
 * the reason it is global. Every other relation it can reach must pass the tenant checks (forced RLS, the
 * one policy, the index): the catalog and fail-closed tests treat any reachable relation missing from this
 * list as a tenant table, so a table keyed by something other than `organization_id` (say `org_id`) fails
 * them instead of passing unnoticed. Names as in `RUNTIME_GRANTS` (schema-qualified outside `public`).
 */
export const GLOBAL_RELATIONS: Readonly<Record<string, string>> = {
  kysely_migration: 'migration bookkeeping, read at start-up; no tenant data',
  users: 'a user belongs to any number of organizations (memberships are the tenant rows)',
  sessions: 'a browser session belongs to a user, not an organization; tokens stored only hashed',
  email_tokens: 'verification and reset links belong to a user; stored only hashed',
  recovery_codes: 'two-factor recovery codes belong to a user; stored only hashed',
  passkey_credentials: 'a passkey belongs to a user (public keys only), found by credential id at sign-in',
  passkey_challenges:
    'pending passkey ceremonies of a session or a browser, before any organization is known',
  social_identities: 'a provider account (Google, GitHub, …) linked to a user, not to an organization',
  social_sign_in_flows:
    'a social sign-in in progress, before any user or organization is known; state stored only hashed',
  refresh_tokens: 'token families belong to a user (the organization is a claim, checked per request)',
  meters: 'the meter catalog is platform-wide (each organization’s usage: usage_events, usage_aggregates)',
  feature_flags: 'flag definitions are platform-wide (per-organization values: feature_flag_overrides)',
  plans:
    'the plan catalog is platform-wide (an organization refers to one by key; its history: organization_plan_changes); read-only to the runtime role',
  stripe_events:
    'Stripe webhook event ids, unique: an event is applied once whichever organization it concerns (ids, types and times only)',
  platform_audit_events: 'the platform chain: actions with no organization (read-only to the runtime role)',
  platform_audit_head: 'the head of the platform chain (read-only to the runtime role)',
  account_exports: 'a user’s exports of their own data (across organizations): keyed by user, like sessions',
  account_export_chunks: 'the archives of account exports, keyed by export (of one user)',
  usage_aggregator_state:
    'the usage aggregator’s one-row watermark (a transaction id and a time): no tenant data (0063)',
  sso_flows:
    'pending SSO sign-ins, found by the hash of their state before any tenant is known; short-lived, single use',
};
