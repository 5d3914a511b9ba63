/**
 * How each table of `public` lives on a Citus cluster (issue 14, docs/citus.md):
 * - DISTRIBUTED by `organization_id`, all colocated: every table with that column unless listed below.
 *   Its primary key, unique keys and foreign keys lead with `organization_id` (Citus requires the
 *   distribution column in them; leading keeps them useful as index on one shard), except a foreign key
 *   to a reference table, which needs none.
 * - REFERENCE: replicated to every node. Global tables that distributed tables reference or join (a
 *   distributed table may reference a reference table, never a local one), and the global lookups that
 *   find an organization before a tenant is known. A reference table may only reference reference tables.
 * - LOCAL: kept on the coordinator (`citus_add_local_table_to_metadata`): global tables no distributed or
 *   reference table references, read and written by the coordinator only. A local table may reference
 *   reference and local tables. Why not reference for all of them: each write to a reference table is a
 *   write on every node (two-phase commit), and credentials (session and token hashes) would be copied to
 *   every worker for no reader there.
 *
 * Other schemas stay local to the coordinator, never distributed: `graphile_worker` (the job queue: its
 * functions lock and update rows across the whole queue; `worker_api` holds only the worker role's
 * functions, no table), and so do the migration tables (`kysely_migration`, `kysely_migration_lock`, in
 * `public` and so listed below). Only `public` is classified here.
 *
 * Accepted cost (issue 14 item 2): `users` is a reference table because distributed tables reference it
 * (memberships, api_keys, invitations, flag overrides, plan changes), so the writes to it at sign-in and
 * on an organization switch (`users.last_organization_id`) and at each second-factor check
 * (`users.totp_last_step`) are cluster-wide writes, committed on every node. They are rare next to reads
 * (a session then lives for days) and each comes with an Argon2 or TOTP check dearer than the extra
 * commit. Should they ever matter, those columns can move to a LOCAL table keyed by user (local ->
 * reference is allowed). The per-request path (session lookup and touch, tenant reads) writes no
 * reference table: sessions are local.
 */

export type CitusTableKind = 'distributed' | 'reference' | 'local';

export interface CitusTableClass {
  readonly table: string;
  readonly kind: CitusTableKind;
  readonly why: string;
}

/** Tables replicated to every node (no organization_id, or global lookups), each with why. */
export const CITUS_REFERENCE_TABLES: Readonly<Record<string, string>> = {
  organizations:
    'the tenant directory: every distributed table references organizations(id), and its unique slug and domains ' +
    'cannot be enforced on a table distributed by id (users, sessions and refresh_tokens reference it too)',
  users:
    'global identities (unique email) referenced by distributed tables (memberships, api_keys, invitations, ' +
    'feature_flag_overrides, organization_plan_changes); sign-in writes to it are cluster-wide (accepted)',
  plans: 'the plan catalog, referenced by organizations and by organization_plan_changes (distributed)',
  meters: 'the global catalog of meters, joined with the distributed usage tables on every node',
  feature_flags: 'the global flag definitions, referenced by feature_flag_overrides (distributed)',
  api_key_lookup:
    'global lookup (migration 0047): key id -> organization, read by API key authentication before a tenant ' +
    'is known; its primary key keeps key ids unique across organizations',
  invitation_lookup:
    'global lookup (migration 0047): invitation token hash -> organization and invitation, read when a link ' +
    'is opened by someone not yet a member',
  scim_token_lookup:
    'global lookup (migration 0057): SCIM token id -> organization, read by SCIM authentication before a ' +
    'tenant is known; its primary key keeps token ids unique across organizations',
  stripe_customer_lookup:
    'global lookup (migration 0047): Stripe customer id -> organization, read when a Stripe webhook arrives',
  sso_connection_lookup:
    'global lookup (migration 0055): SSO connection id -> organization, read when an IdP answers a sign-in',
  verified_domain_lookup:
    'global lookup (migration 0055): verified domain -> organization; its primary key lets one organization ' +
    'only hold a domain; read by home-realm discovery and the require-SSO check',
};

/** Tables kept on the coordinator only (citus_add_local_table_to_metadata or plain local), each with why. */
export const CITUS_LOCAL_TABLES: Readonly<Record<string, string>> = {
  tenant_commit_decisions:
    "two-phase commit decisions of database placements' scopes (0071): written and read by definer " +
    'functions on the coordinator only, referenced by nothing',
  passkey_credentials:
    'passkeys of users (public keys): read and written (counter, last use) by sign-in on the coordinator only; ' +
    'references users (reference), referenced by nothing',
  passkey_challenges:
    'single-use WebAuthn challenges of sessions and browsers, written and deleted per ceremony on the coordinator',
  sso_flows:
    'pending SSO sign-ins (state hash, nonce, PKCE verifier): short-lived credentials read and written by the ' +
    'coordinator only, like email_tokens',
  sessions:
    'sign-in sessions (token hashes), read and written by the coordinator only; references users and ' +
    'organizations (reference), referenced by refresh_tokens (local) and by no distributed table',
  refresh_tokens:
    'rotating refresh tokens (hashes): references sessions, so it must be local too (a reference table may not ' +
    'reference a local one); written on every refresh, which on a reference table would be a cluster-wide write',
  email_tokens:
    'one-time email verification and reset tokens of users (reference): coordinator-only credentials',
  recovery_codes: 'two-factor recovery codes of users (reference): coordinator-only credentials',
  social_identities:
    'provider accounts linked to users (reference), read and written by sign-in on the coordinator only',
  social_sign_in_flows:
    'social sign-ins in progress (single use, minutes long): written and consumed by the coordinator only',
  account_exports:
    "a user's GDPR export across organizations (references users): read by the user's own request on the coordinator",
  account_export_chunks:
    'the bytes of an account export: references account_exports (local); copying blobs to every node buys nothing',
  organization_deletions:
    'the record of deleted organizations (slug hash, phases, row counts): outlives the organization, platform-only',
  platform_audit_events:
    'the platform administrators\u2019 audit chain: appended and verified on the coordinator',
  platform_audit_head:
    'the head (singleton) of the platform audit chain, locked by each append on the coordinator',
  stripe_events:
    'Stripe webhook deliveries already handled (idempotency by event id), written by the webhook only',
  stripe_customer_deletions:
    'Stripe customers left to delete after their organization was deleted (retried by a job on the coordinator)',
  invoice_number_counter:
    'the global invoice number (singleton row, locked per invoice): one row on the coordinator, not a 2PC per invoice',
  billing_close_start: 'the first period the billing close covers (singleton), read by the close job',
  usage_aggregator_state:
    'the usage aggregator horizon (singleton, an xid8 of the coordinator), read and written by the aggregator job',
  usage_unique_backfills:
    'the schemas whose distinct values of unique_count meters the aggregator has filled (0063), its own bookkeeping',
  enqueueable_tasks:
    'the job tasks the runtime role may enqueue, checked beside graphile_worker (itself local to the coordinator)',
  kysely_migration: 'the applied migrations: read and written by the migrator on the coordinator',
  kysely_migration_lock: "the migrator's lock row",
};

/** The tables of `public` (partitions aside: they follow their parent) and whether each has organization_id. */
export const PUBLIC_TABLES_SQL = `select c.relname::text as name,
       exists (select 1 from pg_catalog.pg_attribute a
                where a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped) as tenant
   from pg_catalog.pg_class c
  where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
  order by 1`;

// `any` rows: the shape pg's Client, PoolClient and Pool return, so each of them fits as is.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Queryable = { query(text: string, values?: unknown[]): Promise<{ rows: any[] }> };

/** The two declared lists (a test passes its own to prove a check fires). */
export interface CitusLists {
  readonly reference: Readonly<Record<string, string>>;
  readonly local: Readonly<Record<string, string>>;
}

export interface CitusCatalog {
  /** Every classifiable table with its class, in name order. */
  readonly classes: readonly CitusTableClass[];
  /** Tables with no organization_id and in neither list: nobody decided where they live. */
  readonly unclassified: readonly string[];
  /** Names listed above that are no table of `public` (renamed or dropped: the list is stale). */
  readonly missing: readonly string[];
}

/** The classification read from the catalog, with what is unclassified or stale (for the readiness test). */
export async function readCitusCatalog(
  q: Queryable,
  lists: CitusLists = { reference: CITUS_REFERENCE_TABLES, local: CITUS_LOCAL_TABLES },
): Promise<CitusCatalog> {
  const { reference, local } = lists;
  const both = Object.keys(reference).filter((t) => Object.hasOwn(local, t));
  if (both.length > 0) throw new Error(`citus tables: both reference and local: ${both.join(', ')}`);
  const res = await q.query(PUBLIC_TABLES_SQL);
  const rows = res.rows as { name: string; tenant: boolean }[];
  const classes: CitusTableClass[] = [];
  const unclassified: string[] = [];
  for (const { name, tenant } of rows) {
    if (Object.hasOwn(reference, name)) {
      classes.push({ table: name, kind: 'reference', why: reference[name]! });
    } else if (Object.hasOwn(local, name)) {
      classes.push({ table: name, kind: 'local', why: local[name]! });
    } else if (tenant) {
      classes.push({ table: name, kind: 'distributed', why: 'tenant table: distributed by organization_id' });
    } else {
      unclassified.push(name);
    }
  }
  const present = new Set(rows.map((r) => r.name));
  const missing = [...Object.keys(reference), ...Object.keys(local)].filter((t) => !present.has(t)).sort();
  return { classes, unclassified, missing };
}

/** Every table of `public` (partitions aside) with its class, read from the catalog: a table with
 *  organization_id not listed above is distributed by organization_id (colocated with the others).
 *  Throws on a table without organization_id that is in neither list: where it lives must be decided. */
export async function citusClassification(q: Queryable): Promise<CitusTableClass[]> {
  const { classes, unclassified } = await readCitusCatalog(q);
  if (unclassified.length > 0) {
    throw new Error(
      `citus tables: not classified (no organization_id, in neither CITUS_REFERENCE_TABLES nor CITUS_LOCAL_TABLES): ${unclassified.join(', ')}`,
    );
  }
  return [...classes];
}
