import type { ColumnType, Generated } from 'kysely';

/** Row types of every table, for Kysely. One interface per table; modules add theirs here. */
export interface Database {
  organizations: OrganizationsTable;
  tenant_placements: TenantPlacementsTable;
  idempotency_keys: IdempotencyKeysTable;
  projects: ProjectsTable;
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  email_tokens: EmailTokensTable;
  recovery_codes: RecoveryCodesTable;
  passkey_credentials: PasskeyCredentialsTable;
  passkey_challenges: PasskeyChallengesTable;
  social_identities: SocialIdentitiesTable;
  social_sign_in_flows: SocialSignInFlowsTable;
  memberships: MembershipsTable;
  roles: RolesTable;
  invitations: InvitationsTable;
  invitation_sends: InvitationSendsTable;
  feature_flags: FeatureFlagsTable;
  feature_flag_overrides: FeatureFlagOverridesTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  audit_chain_heads: AuditChainHeadsTable;
  audit_checkpoints: AuditCheckpointsTable;
  platform_audit_events: PlatformAuditEventsTable;
  platform_audit_head: PlatformAuditHeadTable;
  plans: PlansTable;
  organization_plan_changes: OrganizationPlanChangesTable;
  invoices: InvoicesTable;
  stripe_customers: StripeCustomersTable;
  stripe_meter_pushes: StripeMeterPushesTable;
  stripe_events: StripeEventsTable;
  organization_exports: OrganizationExportsTable;
  organization_export_chunks: OrganizationExportChunksTable;
  account_exports: AccountExportsTable;
  account_export_chunks: AccountExportChunksTable;
  api_key_lookup: ApiKeyLookupTable;
  invitation_lookup: InvitationLookupTable;
  stripe_customer_lookup: StripeCustomerLookupTable;
  scim_tokens: ScimTokensTable;
  scim_token_lookup: ScimTokenLookupTable;
  scim_users: ScimUsersTable;
  scim_groups: ScimGroupsTable;
  scim_group_members: ScimGroupMembersTable;
  scim_events: ScimEventsTable;
  sso_connections: SsoConnectionsTable;
  sso_connection_lookup: SsoConnectionLookupTable;
  organization_domains: OrganizationDomainsTable;
  verified_domain_lookup: VerifiedDomainLookupTable;
  sso_identities: SsoIdentitiesTable;
  sso_flows: SsoFlowsTable;
}

type CreatedAt = ColumnType<Date, never, never>;
type UpdatedAt = ColumnType<Date, never, Date>;

export interface OrganizationsTable {
  id: string;
  slug: string;
  name: string;
  personal: Generated<boolean>;
  settings: Generated<Record<string, unknown>>;
  require_two_factor: Generated<boolean>;
  /** Members (not owners) sign in through the organization's IdP (migration 0055, docs/sso.md). */
  require_sso: Generated<boolean>;
  /** When the deletion was scheduled (set with `deletion_due_at`, migration 0026). */
  deletion_requested_at: Date | null;
  /** When it was suspended (set exactly while `lifecycle_state` is `suspended`). */
  suspended_at: Date | null;
  /** The lifecycle state (migration 0026; `deleted` is the absence of the row): docs/organization-lifecycle.md. */
  lifecycle_state: Generated<'active' | 'suspended' | 'pending_deletion'>;
  /** Why it is suspended (exactly while `suspended`): a payment lifts only billing's suspension. */
  suspension_reason: 'admin' | 'billing' | 'deletion' | null;
  /** When the hard delete may start (while pending deletion, and while it runs). */
  deletion_due_at: Date | null;
  /** The region it was created in (REGIONS, migration 0071); null: the control database. */
  region: ColumnType<string | null, string | null | undefined, never>;
  /** Targeting input of feature flags; set by platform administrators. */
  plan: Generated<string>;
  attributes: Generated<Record<string, string | number | boolean>>;
  /** The audit retention (days) the retention purge applied at its latest cut (migration 0068). */
  audit_retention_cut_days: Generated<number | null>;
  created_at: Generated<Date> & CreatedAt;
  updated_at: Generated<Date>;
}

export interface TenantPlacementsTable {
  organization_id: string;
  kind: Generated<'pooled' | 'schema' | 'database'>;
  database_key: string | null;
  updated_at: Generated<Date>;
  state: Generated<'active' | 'moving'>;
  schema_version: string | null;
}

export interface IdempotencyKeysTable {
  organization_id: string;
  scope: string;
  key: string;
  request_hash: string;
  response: unknown;
  created_at: Generated<Date>;
}

export interface ProjectsTable {
  organization_id: string;
  id: string;
  name: string;
  description: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date> & UpdatedAt;
}

export interface UsersTable {
  id: string;
  email: string;
  email_normalized: string;
  password_hash: string | null;
  email_verified_at: Date | null;
  totp_secret_enc: string | null;
  totp_enabled_at: Date | null;
  /** The last accepted TOTP time step (int8: pg returns it as a string). */
  totp_last_step: string | null;
  /** The encrypted secret of an enrollment awaiting its first code (secret-box string). */
  two_factor_pending_secret_enc: string | null;
  last_organization_id: string | null;
  /** Display name (1–100 characters, trimmed, no control characters; migration 0013). */
  name: string | null;
  /** When the user was erased (migration 0028): the row is then an anonymous tombstone. */
  erased_at: Generated<Date | null>;
  is_platform_admin: Generated<boolean>;
  credentials_changed_at: Generated<Date>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  token_hash: Buffer;
  current_organization_id: string | null;
  two_factor_verified: Generated<boolean>;
  user_agent: string | null;
  ip: string | null;
  created_at: Generated<Date>;
  last_seen_at: Generated<Date>;
  idle_expires_at: Date;
  absolute_expires_at: Date;
  revoked_at: Date | null;
  /** The SSO connection that signed this session in (migration 0055): revoked with the connection. */
  sso_connection_id: Generated<string | null>;
}

export interface RefreshTokensTable {
  id: string;
  family_id: string;
  user_id: string;
  current_organization_id: string | null;
  token_hash: Buffer;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
  created_at: Generated<Date>;
  /** The session that minted the family (migration 0011); null for families minted otherwise. */
  session_id: Generated<string | null>;
}

export interface EmailTokensTable {
  id: string;
  user_id: string;
  purpose: 'verify_email' | 'reset_password';
  token_hash: Buffer;
  expires_at: Date;
  used_at: Date | null;
  created_at: Generated<Date>;
}

/** A provider account linked to a user (migration 0058, social sign-in): global, like users. */
export interface SocialIdentitiesTable {
  id: string;
  user_id: string;
  provider: string;
  subject: string;
  email: string | null;
  created_at: Generated<Date>;
  last_used_at: Generated<Date>;
}

/** A social sign-in between its start and the provider's callback (migration 0058): single use. */
export interface SocialSignInFlowsTable {
  state_hash: Buffer;
  provider: string;
  browser_hash: Buffer;
  code_verifier: string;
  nonce: string | null;
  return_to: string;
  expires_at: Date;
  created_at: Generated<Date>;
}

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: Buffer;
  used_at: Date | null;
}

export interface PasskeyCredentialsTable {
  id: string;
  user_id: string;
  credential_id: string;
  public_key: Buffer;
  /** bigint: pg returns it as a string. */
  counter: ColumnType<string, string | number, string | number>;
  transports: string[];
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean;
  name: string;
  created_at: Generated<Date>;
  last_used_at: Date | null;
}

export interface PasskeyChallengesTable {
  purpose: 'registration' | 'sign_in' | 'second_factor';
  binding_hash: Buffer;
  user_id: string | null;
  challenge: string;
  expires_at: Date;
}

export interface MembershipsTable {
  organization_id: string;
  user_id: string;
  role: string;
  status: 'pending' | 'active';
  permissions_version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface RolesTable {
  organization_id: string;
  key: string;
  name: string;
  permissions: string[];
  created_at: Generated<Date>;
}

/** One invitation mail sent (first send or resend), for the hourly limits (migration 0011). */
export interface InvitationSendsTable {
  organization_id: string;
  id: string;
  invitation_id: string;
  email_normalized: string;
  sent_at: Generated<Date>;
}

export interface InvitationsTable {
  organization_id: string;
  id: string;
  email_normalized: string;
  role: string;
  token_hash: Buffer;
  status: 'pending' | 'accepted' | 'revoked';
  invited_by: string | null;
  expires_at: Date;
  accepted_at: Date | null;
  created_at: Generated<Date>;
}

/** One entry of an organization's audit hash chain (append-only). */
export interface AuditEventsTable {
  organization_id: string;
  seq: string;
  id: string;
  occurred_at: Date;
  actor_type: 'user' | 'api_key' | 'system' | 'anonymous';
  actor_id: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  changes: unknown;
  metadata: unknown;
  prev_hash: Buffer;
  hash: Buffer;
}

export interface AuditChainHeadsTable {
  organization_id: string;
  seq: string;
  hash: Buffer;
  updated_at: Generated<Date>;
}

export interface AuditCheckpointsTable {
  organization_id: string;
  id: string;
  seq: string;
  head_hash: Buffer;
  signed_at: Date;
  key_id: string;
  signature: Buffer;
  /** 1: signed before migration 0069; 2: the statement states `retention_days` (migration 0069). */
  statement_v: number;
  /** The audit retention in force when signed (days; null: forever, or a version 1 statement). */
  retention_days: number | null;
}

export type PlatformAuditEventsTable = Omit<AuditEventsTable, 'organization_id'>;

export interface PlatformAuditHeadTable {
  singleton: Generated<boolean>;
  seq: string;
  hash: Buffer;
  updated_at: Generated<Date>;
}

/**
 * The global lookups (migration 0047): the organization of a key id, invitation token or Stripe customer,
 * found before a tenant is known. Written with the tenant row, in its transaction; forced RLS like any
 * tenant table. Their primary key is what keeps the key, token or customer unique across organizations.
 */
export interface ApiKeyLookupTable {
  key_id: string;
  organization_id: string;
  api_key_id: string;
}

export interface InvitationLookupTable {
  token_hash: Buffer;
  organization_id: string;
  invitation_id: string;
}

export interface StripeCustomerLookupTable {
  customer_id: string;
  organization_id: string;
}

/** One IdP of an organization (migration 0055). `oidc_client_secret` is sealed with the organization's key. */
export interface SsoConnectionsTable {
  organization_id: string;
  id: string;
  kind: 'oidc' | 'saml';
  name: string;
  status: Generated<'active' | 'inactive'>;
  default_role: Generated<string>;
  role_mappings: Generated<{ value: string; role: string }[]>;
  oidc_issuer: string | null;
  oidc_client_id: string | null;
  oidc_client_secret: string | null;
  oidc_scopes: Generated<string[]>;
  oidc_groups_claim: string | null;
  oidc_trust_email: Generated<boolean>;
  saml_idp_metadata_xml: string | null;
  saml_idp_metadata_url: string | null;
  saml_idp_entity_id: string | null;
  saml_idp_sso_url: string | null;
  saml_idp_certificates: Generated<string[]>;
  saml_want_assertions_signed: Generated<boolean>;
  saml_want_response_signed: Generated<boolean>;
  saml_allow_idp_initiated: Generated<boolean>;
  saml_groups_attribute: string | null;
  saml_email_attribute: Generated<string | null>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface SsoConnectionLookupTable {
  connection_id: string;
  organization_id: string;
}

export interface OrganizationDomainsTable {
  organization_id: string;
  domain: string;
  verification_token: string;
  status: Generated<'pending' | 'verified'>;
  verified_at: Date | null;
  last_checked_at: Date | null;
  failed_checks: Generated<number>;
  created_at: Generated<Date>;
}

export interface VerifiedDomainLookupTable {
  domain: string;
  organization_id: string;
}

export interface SsoIdentitiesTable {
  organization_id: string;
  connection_id: string;
  subject: string;
  user_id: string;
  created_at: Generated<Date>;
  last_sign_in_at: Generated<Date>;
}

/** A pending SP-initiated sign-in (global, single use): found by the SHA-256 of its state. */
export interface SsoFlowsTable {
  state_hash: Buffer;
  connection_id: string;
  nonce: string;
  code_verifier: string | null;
  return_to: string;
  expires_at: Date;
  created_at: Generated<Date>;
}

/** An organization API key. Only the SHA-256 of its secret is stored. */
export interface ApiKeysTable {
  organization_id: string;
  id: string;
  /** The public key id, the part of the key after `srk_` (unique across organizations: `api_key_lookup`). */
  key_id: string;
  name: string;
  scopes: string[];
  secret_hash: Buffer;
  created_by_user_id: string | null;
  created_by_key_id: string | null;
  rate_limit_per_minute: number | null;
  created_at: Generated<Date>;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** A jsonb column written as JSON text (`JSON.stringify`: pg would send a JS array as a SQL array). */
type JsonText<S> = ColumnType<S, string, string>;

/** A feature flag definition: platform-level, no organization_id (see src/modules/flags). */
export interface FeatureFlagsTable {
  key: string;
  /** New at each creation: a key deleted and created again names another flag (migration 0073). */
  id: Generated<string>;
  description: Generated<string>;
  kind: 'boolean' | 'multivariate';
  variants: JsonText<unknown>;
  default_value: JsonText<unknown>;
  off_value: JsonText<unknown>;
  killed: Generated<boolean>;
  allow_org_override: Generated<boolean>;
  rules: JsonText<unknown>;
  rollout: ColumnType<unknown, string | null, string | null>;
  version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** An organization's override of one flag. */
export interface FeatureFlagOverridesTable {
  organization_id: string;
  flag_key: string;
  /** The flag (`feature_flags.id`) the override was set on; null on rows written before migration 0073
   *  outside the control database's public schema, each the override of its key's current flag (see
   *  flag-identity.ts). */
  flag_id: string | null;
  value: JsonText<unknown>;
  updated_by_user_id: string | null;
  updated_at: Generated<Date>;
}

/** A plan of the catalog: platform-level, no organization_id (see src/modules/plans). Read-only to the
 *  runtime role; written through `app_platform_plan_save` / `app_platform_plan_archive`. */
export interface PlansTable {
  key: string;
  name: string;
  description: Generated<string>;
  seat_limit: number | null;
  quotas: JsonText<unknown>;
  entitlements: Generated<string[]>;
  price: JsonText<unknown>;
  public: Generated<boolean>;
  /** Days its organizations keep their audit events (null: forever; migration 0031). */
  audit_retention_days: number | null;
  archived_at: Date | null;
  version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One change of an organization's plan (append-only: the pricing engine prorates from it). */
export interface OrganizationPlanChangesTable {
  organization_id: string;
  id: string;
  from_plan: string;
  to_plan: string;
  changed_at: Generated<Date>;
  changed_by_user_id: string | null;
  via: 'owner' | 'platform' | 'provider';
}

/**
 * An invoice (migration 0019). The runtime role inserts drafts and reads; number, status and the dates
 * are set only by `app_invoice_finalize`. bigint columns come back as text, dates are read as text.
 */
export interface InvoicesTable {
  organization_id: string;
  id: string;
  number: ColumnType<string | null, never, never>;
  status: ColumnType<'draft' | 'finalized' | 'void', never, never>;
  currency: string;
  period_start: ColumnType<string, string, never>;
  period_end: ColumnType<string, string, never>;
  subtotal: ColumnType<string, number, never>;
  total: ColumnType<string, number, never>;
  /** The invoice lines as jsonb (inserted as JSON text). */
  lines: ColumnType<unknown, string, never>;
  /** Snapshots taken at finalization (ISO 4217 digits, the organization's name, the issuer); null on drafts. */
  minor_units: ColumnType<number | null, number | undefined, never>;
  customer_name: ColumnType<string | null, string | undefined, never>;
  issuer: ColumnType<string | null, string | undefined, never>;
  created_at: CreatedAt;
  finalized_at: ColumnType<Date | null, never, never>;
  voided_at: ColumnType<Date | null, never, never>;
}

/** An organization's Stripe customer and the billing state its webhooks keep (migration 0021). */
export interface StripeCustomersTable {
  organization_id: string;
  customer_id: string;
  subscription_id: string | null;
  status: 'none' | 'active' | 'past_due' | 'paused' | 'canceled';
  /** When the current subscription started: its usage from then on is pushed to Stripe. */
  subscription_started_at: Date | null;
  /** The Stripe `created` time of the last event that set the status (older ones do not). */
  status_event_at: Date | null;
  /** The Stripe `created` time of the last subscription event applied (older ones are stale). */
  subscription_event_at: Date | null;
  grace_ends_at: Date | null;
  suspended_by_billing: Generated<boolean>;
  /** The organization's open Checkout session (a new one expires it). */
  checkout_session_id: string | null;
  /** Subscriptions that ended (the last 50): their events are ignored (migration 0029). */
  ended_subscription_ids: Generated<string[]>;
  /** When the last subscription ended: the next one's usage is pushed from no earlier (migration 0029). */
  subscription_ended_at: Date | null;
  /** The invoice whose failed payment made the organization past due (migration 0029). */
  failed_invoice_id: string | null;
  created_at: CreatedAt;
  updated_at: Generated<Date>;
}

/** One push of usage as a Stripe meter event (migration 0021): `pending` before the send, `sent` after. */
export interface StripeMeterPushesTable {
  organization_id: string;
  identifier: string;
  subscription_id: string;
  meter: string;
  event_name: string;
  customer_id: string;
  /** numeric: read as text. */
  value: ColumnType<string, string, never>;
  total_after: ColumnType<string, string, never>;
  /** `abandoned` (migration 0029): refused by Stripe for good; counts in no total. */
  status: ColumnType<'pending' | 'sent' | 'abandoned', 'pending' | undefined, 'sent' | 'abandoned'>;
  created_at: ColumnType<Date, Date | undefined, never>;
  sent_at: ColumnType<Date | null, never, Date>;
  attempts: ColumnType<number, never, number>;
  last_error: ColumnType<string | null, never, string | null>;
}

/** Every Stripe webhook event applied or ignored, once (global; migration 0021). */
export interface StripeEventsTable {
  id: string;
  type: string;
  event_created: Date;
  outcome: string;
  received_at: Generated<Date>;
}

/** An export's state and progress (migration 0027): organization and account exports alike. */
export interface ExportColumns {
  id: string;
  status: Generated<'queued' | 'running' | 'ready' | 'failed' | 'expired'>;
  tables_total: Generated<number>;
  tables_done: Generated<number>;
  /** int8: pg returns it as a string. */
  rows_exported: Generated<string>;
  size_bytes: string | null;
  archive_sha256: string | null;
  error: string | null;
  created_at: Generated<Date>;
  started_at: Date | null;
  finished_at: Date | null;
  expires_at: Date | null;
}

/** An organization's export (tenant, forced RLS). */
export interface OrganizationExportsTable extends ExportColumns {
  organization_id: string;
  requested_by: string;
}

/** A piece (≤ 1 MiB) of a finished organization export archive, in order of `seq`. */
export interface OrganizationExportChunksTable {
  organization_id: string;
  export_id: string;
  seq: number;
  data: Buffer;
}

/** A user's export of their own data (global, keyed by user). */
export interface AccountExportsTable extends ExportColumns {
  user_id: string;
  idempotency_key: string | null;
  request_hash: string | null;
}

export interface AccountExportChunksTable {
  export_id: string;
  seq: number;
  data: Buffer;
}

/** SCIM bearer tokens of an organization (migration 0057); the secret's hash is in `scim_token_lookup`. */
export interface ScimTokensTable {
  organization_id: string;
  id: string;
  token_id: string;
  created_by_user_id: string | null;
  created_at: Generated<Date>;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

/** Global lookup of SCIM token ids (migration 0057): a token is valid exactly while its row exists. */
export interface ScimTokenLookupTable {
  token_id: string;
  organization_id: string;
  scim_token_id: string;
  secret_hash: Buffer;
}

/** The directory's view of a member (migration 0057). */
export interface ScimUsersTable {
  organization_id: string;
  user_id: string;
  user_name: string;
  external_id: string | null;
  given_name: string | null;
  family_name: string | null;
  display_name: string | null;
  emails: ColumnType<ScimEmail[], string, string>;
  active: boolean;
  version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ScimEmail {
  value: string;
  type?: string;
  primary?: boolean;
}

export interface ScimGroupsTable {
  organization_id: string;
  id: string;
  display_name: string;
  external_id: string | null;
  role: string | null;
  version: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface ScimGroupMembersTable {
  organization_id: string;
  group_id: string;
  user_id: string;
}

/** The SCIM sync log (append-only). */
export interface ScimEventsTable {
  organization_id: string;
  id: string;
  at: Generated<Date>;
  method: string;
  resource: string;
  resource_id: string | null;
  status: number;
  outcome: string;
}
