import { sql } from 'kysely';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';

/** A table holding an organization's rows, as the catalog describes it. */
export interface TenantTable {
  /** The table's schema as the archive names it: `public` for a placed table, whatever its placement. */
  readonly schema: string;
  readonly table: string;
  /** The schema its rows are read from: the organization's own schema for a placed table of a schema placement. */
  readonly readSchema: string;
  /** Primary key columns (keyset paging); empty when it has none. */
  readonly primaryKey: readonly string[];
  /** Whether the runtime role may read it (every tenant table so far; otherwise listed, not exported). */
  readonly readable: boolean;
  /** The column naming the organization: `organization_id`, or `id` for `organizations` itself. */
  readonly tenantColumn: 'organization_id' | 'id';
  /** Columns of REDACTED_COLUMNS in this table: written as REDACTED_VALUE (null stays null). */
  readonly redacted: readonly string[];
}

/** What a redacted column's non-null value becomes in the archive. */
export const REDACTED_VALUE = '[redacted]';

/**
 * Columns of tenant tables whose values are credentials or what checks one (`schema.table.column`, with
 * why): left out of the archive (REDACTED_VALUE in place of a non-null value), since an archive travels
 * beyond the database — a digest can be brute-forced offline, and a sealed secret opens with the
 * organization's key. A guard test fails on a new tenant column whose name looks like a secret (see
 * SECRET_LIKE_COLUMN) that is neither here nor in EXPORTED_SECRET_LIKE_COLUMNS.
 */
export const REDACTED_COLUMNS: Readonly<Record<string, string>> = {
  'public.api_keys.secret_hash': 'the digest an API key secret is checked against',
  'public.invitations.token_hash': 'the digest an invitation link is checked against',
  'public.invitation_lookup.token_hash':
    "the same digest, in the invitation's global lookup (migration 0047)",
  'public.scim_token_lookup.secret_hash': 'the digest a SCIM token secret is checked against',
  'public.webhook_endpoints.secret': "the endpoint's signing secret, sealed with the organization's key",
  'public.sso_connections.oidc_client_secret':
    "the OIDC client secret of an SSO connection, sealed with the organization's key",
  'public.organization_domains.verification_token':
    'the value to publish in DNS to prove control of a domain (a proof of control while pending)',
  'public.webhook_endpoints.previous_secret':
    "the secret a rotation replaced, still signing during the overlap, sealed with the organization's key",
};

/** A column name that looks like it holds a secret, a digest of one, or key material. */
export const SECRET_LIKE_COLUMN =
  /secret|hash|token|passw|credential|private|seal|signature|digest|cipher|wrapped|(^|_)otp(_|$)|(^|_)key(_|$)/i;

/** Columns whose names look like a secret but hold none, exported as stored (`schema.table.column`, with why). */
export const EXPORTED_SECRET_LIKE_COLUMNS: Readonly<Record<string, string>> = {
  'public.api_keys.key_id': "an API key's public identifier (the part before the secret)",
  'public.api_keys.created_by_key_id': 'the API key that created this one (an id)',
  'public.api_key_lookup.key_id': "an API key's public identifier, in its global lookup (migration 0047)",
  'public.api_key_lookup.api_key_id': 'the API key the lookup row names (an id)',
  'public.audit_chain_heads.hash': "the head of the organization's audit chain (verification data)",
  'public.audit_checkpoints.head_hash': 'the chain hash a checkpoint signs (verification data)',
  'public.audit_checkpoints.signature': "the platform's signature of a checkpoint (public verification data)",
  'public.audit_checkpoints.key_id': 'names the signing key, holds none of it',
  'public.audit_events.hash': 'chain hash of the entry (verification data)',
  'public.audit_events.prev_hash': 'chain hash of the previous entry (verification data)',
  'public.feature_flag_overrides.flag_key': "a feature flag's name",
  'public.idempotency_keys.key': 'the Idempotency-Key a client sent: a retry identifier, not a secret',
  'public.idempotency_keys.request_hash': 'digest of the request body a key was first used with',
  'public.roles.key': "a role's name",
  'public.scim_tokens.token_id': "a SCIM token's public identifier (the part before the secret)",
  'public.scim_token_lookup.token_id': "a SCIM token's public identifier, in its global lookup",
  'public.scim_token_lookup.scim_token_id': 'the SCIM token the lookup row names (an id)',
  'public.tenant_placements.database_key': 'names the database holding the organization, holds no credential',
  'public.placement_moves.database_key': 'names the database a move went into, holds no credential',
  'public.placement_moves.from_database_key': 'names the database a move left, holds no credential',
  'public.tenant_key_unreadable_values.key_version': 'the number of a data key version, holds no key',
  'public.tenant_key_unreadable_values.value_digest':
    'SHA-256 of a sealed value its key could not open (identifies the stored text, reveals nothing)',
  'public.webhook_endpoints.previous_secret_expires_at': 'when the replaced secret stops signing (a time)',
  'public.usage_event_keys.digest': "digest of a usage event's idempotency key (deduplication)",
  'public.usage_unique_values.value_digest':
    "SHA-256 of a distinct value of a unique_count meter (the events' property values are exported as stored)",
};

/** `row` with the table's redacted columns replaced (a copy; null values stay null). */
export function redactRow(t: TenantTable, row: Record<string, unknown>): Record<string, unknown> {
  if (t.redacted.length === 0) return row;
  const out = { ...row };
  for (const c of t.redacted) if (out[c] !== null && out[c] !== undefined) out[c] = REDACTED_VALUE;
  return out;
}

const redactedOf = (schema: string, table: string): string[] =>
  Object.keys(REDACTED_COLUMNS)
    .filter((k) => k.startsWith(`${schema}.${table}.`))
    .map((k) => k.slice(schema.length + table.length + 2));

/**
 * Tables never exported, with why: the export archives themselves (an export of an export).
 * Named as `schema.table`.
 */
export const NOT_EXPORTED: Readonly<Record<string, string>> = {
  'public.organization_export_chunks': 'the stored export archives themselves',
};

/**
 * The organization's own row (`organizations`, keyed by `id`), then every table of the database with an
 * `organization_id` column (ordinary and partitioned tables, not the
 * partitions of a partitioned one: their rows are read through the parent), found in `pg_catalog` at the
 * moment of the export, so a table added by a later migration is exported without anyone listing it.
 *
 * Schema placements (docs/isolation-models.md): the schemas of organizations (`t_<32 hex>`) are skipped
 * but for the scope's own, the one on its search path; a placed table is read from there and named as
 * `public`'s (the archive, its redactions and its manifest are the same whatever the placement), and
 * `public`'s table of the same name, which holds none of the organization's rows, is not listed twice.
 */
export async function tenantTables(db: TenantDb): Promise<TenantTable[]> {
  const res = await sql<{
    schema: string;
    read_schema: string;
    table: string;
    pk: string[] | null;
    readable: boolean;
  }>`
    select distinct on (1, c.relname)
      case when n.nspname ~ '^t_[0-9a-f]{32}$' then 'public' else n.nspname::text end as schema,
      n.nspname as read_schema, c.relname as table,
      (select array_agg(a2.attname::text order by k.ord)
         from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
         join pg_attribute a2 on a2.attrelid = c.oid and a2.attnum = k.attnum
        where i.indrelid = c.oid and i.indisprimary) as pk,
      has_table_privilege(c.oid, 'select') as readable
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
    where c.relkind in ('r', 'p') and not c.relispartition
      and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
      and (n.nspname !~ '^t_[0-9a-f]{32}$' or n.nspname = any (current_schemas(false)))
    order by 1, c.relname, n.nspname ~ '^t_[0-9a-f]{32}$' desc`.execute(db);
  const own: TenantTable = {
    schema: 'public',
    table: 'organizations',
    readSchema: 'public',
    primaryKey: ['id'],
    readable: true,
    tenantColumn: 'id',
    redacted: redactedOf('public', 'organizations'),
  };
  return [
    own,
    ...res.rows
      .filter((r) => !Object.hasOwn(NOT_EXPORTED, `${r.schema}.${r.table}`))
      .map((r) => ({
        schema: r.schema,
        table: r.table,
        readSchema: r.read_schema,
        primaryKey: r.pk ?? [],
        readable: r.readable,
        tenantColumn: 'organization_id' as const,
        redacted: redactedOf(r.schema, r.table),
      })),
  ];
}

/**
 * One page of a tenant table's rows of `orgId` as JSON (`to_jsonb` of the row: every column; bytea as
 * `\x…` hex, timestamps as ISO text), in primary key order, strictly after `after` (the previous page's
 * last row). A table without a primary key is read in one page.
 */
export async function tablePage(
  db: TenantDb,
  t: TenantTable,
  orgId: string,
  after: Record<string, unknown> | null,
  limit: number,
): Promise<Record<string, unknown>[]> {
  const rel = sql.id(t.readSchema, t.table);
  const tenant = sql`t.${sql.id(t.tenantColumn)}`;
  if (t.primaryKey.length === 0) {
    const res = await sql<{ row: Record<string, unknown> }>`select to_jsonb(t) as row from ${rel} t
      where ${tenant} = ${orgId}::uuid`.execute(db);
    return after ? [] : res.rows.map((r) => r.row);
  }
  const cols = sql.join(t.primaryKey.map((c) => sql`t.${sql.id(c)}`));
  const prev = sql.join(t.primaryKey.map((c) => sql`r.${sql.id(c)}`));
  const res = await sql<{ row: Record<string, unknown> }>`select to_jsonb(t) as row from ${rel} t
    where ${tenant} = ${orgId}::uuid
      and (${after === null ? null : JSON.stringify(after)}::jsonb is null
        or (${cols}) > (select ${prev} from jsonb_populate_record(null::${rel}, ${
          after === null ? null : JSON.stringify(after)
        }::jsonb) r))
    order by ${cols} limit ${limit}`.execute(db);
  return res.rows.map((r) => r.row);
}
