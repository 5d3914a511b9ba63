import type { ColumnType, Generated } from 'kysely';

/** Row types of every table, for Kysely. One interface per table; modules add theirs here. */
export interface Database {
  organizations: OrganizationsTable;
  tenant_placements: TenantPlacementsTable;
  idempotency_keys: IdempotencyKeysTable;
  projects: ProjectsTable;
}

type CreatedAt = ColumnType<Date, never, never>;
type UpdatedAt = ColumnType<Date, never, Date>;

export interface OrganizationsTable {
  id: string;
  slug: string;
  name: string;
  created_at: Generated<Date> & CreatedAt;
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
