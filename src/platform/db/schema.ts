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
  memberships: MembershipsTable;
  roles: RolesTable;
  invitations: InvitationsTable;
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
  deletion_requested_at: Date | null;
  suspended_at: Date | null;
  created_at: Generated<Date> & CreatedAt;
  updated_at: Generated<Date>;
}

export interface TenantPlacementsTable {
  organization_id: string;
  kind: Generated<'pooled' | 'schema' | 'database'>;
  database_key: string | null;
  updated_at: Generated<Date>;
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

export interface RecoveryCodesTable {
  user_id: string;
  code_hash: Buffer;
  used_at: Date | null;
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
