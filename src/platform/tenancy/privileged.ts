import { scopeStorage } from './tenant-database.js';
import type pg from 'pg';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { PlatformScope } from './platform-scope.js';
import type { TenantDb } from './tenant-database.js';

/**
 * The named privileged operations: the only ways to look across tenants. Each calls one SECURITY DEFINER
 * function owned by the NOLOGIN definer role (migrations 0001-0015), answers one narrow question, and is
 * logged with its name. There is no general bypass. Each function checks its contract itself, in the
 * database; what that withstands differs per function, because the runtime role can read some of what
 * the contracts ask for (session token hashes, refresh family ids, user ids, slugs, and any tenant's rows,
 * since RLS is keyed by a setting it sets itself):
 * - against SQL injected as the runtime role: the platform functions (the RAW token of a live platform
 *   administrator session; only its hash is stored) and the user-organizations lookup of a cookie
 *   principal (the RAW session token);
 * - against mistakes in application code only: the user-organizations lookup of a bearer principal (a
 *   refresh family id, readable), the invitation and API key lookups (hashes an injected statement could
 *   read from the tenant tables, which also hold everything these lookups answer), the slug lookup (public
 *   names) and every tenant-scope refusal (`app.tenant_id` is a setting the runtime role can clear).
 * Every one of them refuses inside a tenant scope (`app.tenant_id` set) except `app_audit_seal` (called
 * by the audit sealer, src/platform/audit/seal.ts) and `app_invoice_finalize` ({@link finalizeInvoice}),
 * which refuse OUTSIDE the scope of their own organization. The audit seal of several organizations
 * ({@link auditSealOrganizations}, the in-process sealer's, counts only) is the runtime role's too, outside any
 * tenant scope. The audit checkpoint scan, the seal sweep and the
 * period close scan are not among them: they belong to the worker role ({@link auditChainsToCheckpoint},
 * {@link auditOrganizationsPending}, {@link billingOrganizations}).
 */
export interface PrivilegedOps {
  /** Which organization and invitation an invitation token belongs to: accepting a link happens before
   *  the tenant is known. Contract: the caller proves the token (its SHA-256); outside any tenant scope. */
  invitationByToken(tokenHash: Buffer): Promise<{ organizationId: string; invitationId: string } | null>;
  /** Resolves an organization slug to its id (tenant resolution by path segment or subdomain; the
   *  caller must still check the principal's membership). Contract: outside any tenant scope (slugs are
   *  public names; the id alone opens nothing). */
  organizationIdBySlug(slug: string): Promise<string | null>;
  /** Platform administration: organizations newest first, with member counts, targeting fields and
   *  placement (a second function, `app_priv_platform_placements`, read in the same scope);
   *  `q` (≤ 100 characters) keeps those whose name or slug contains it, ignoring case. Contract: only
   *  inside the platform scope of a platform administrator's live session (`withPlatformScope`). */
  platformOrganizations(
    scope: PlatformScope,
    after: string | null,
    limit: number,
    q?: string | null,
  ): Promise<PlatformOrganizationRow[]>;
  /** The organizations a user is an ACTIVE member of (none being deleted), with the user's role,
   *  ordered by name then id; `after` continues strictly after that (name, id). "My organizations".
   *  Contract: only for the user the caller proves with `proof` (a live credential of that user);
   *  outside any tenant scope. The database refuses (throws) without a valid proof; with a session proof
   *  the user is the session's, whatever `userId` says (a different one is refused). */
  userOrganizations(
    userId: string,
    proof: UserProof,
    page?: { after?: { name: string; id: string } | null; limit?: number },
  ): Promise<UserOrganizationRow[]>;
  /** What authenticating an API key needs, found by its public key id AND the SHA-256 of the presented
   *  secret: null unless a key has that id and that secret (the stored hash is never returned).
   *  Contract: outside any tenant scope. */
  apiKeyByKeyId(keyId: string, secretHash: Buffer): Promise<ApiKeyAuthRow | null>;
  /** Which organization a Stripe customer id belongs to, from the stored mapping (migration 0021): the
   *  Stripe webhook has no tenant credentials, and an event's metadata is never trusted for it.
   *  Contract: outside any tenant scope (the signature of the event was verified by the caller). */
  stripeOrganizationByCustomer(customerId: string): Promise<string | null>;
}

/**
 * How a caller proves the user of `userOrganizations`:
 * - `session` (cookie principals): the RAW session token the request presented; the database hashes it
 *   and requires a live, unrevoked, unexpired session. The runtime role stores and reads only hashes, so
 *   this proof holds even against SQL injected as the runtime role.
 * - `refresh_family` (bearer principals): the refresh-token family the access token names, live (a token
 *   of it unused, unrevoked, unexpired) and of that user. A family id is READABLE by the runtime role
 *   (`refresh_tokens`), so this guards against mistakes in application code (asking about the wrong
 *   user), not against injected SQL.
 */
export type UserProof =
  | { readonly kind: 'session'; readonly token: string }
  | { readonly kind: 'refresh_family'; readonly familyId: string };

/** An API key as authentication sees it. */
export interface ApiKeyAuthRow {
  organizationId: string;
  id: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
  rateLimitPerMinute: number | null;
}

/** A row of a user's organization list. */
export interface UserOrganizationRow {
  organizationId: string;
  slug: string;
  name: string;
  role: string;
  personal: boolean;
}

/** A row of the platform administrators' organization list. */
export interface PlatformOrganizationRow {
  id: string;
  slug: string;
  name: string;
  personal: boolean;
  created_at: Date;
  suspended_at: Date | null;
  deletion_requested_at: Date | null;
  members: string;
  plan: string;
  attributes: Record<string, string | number | boolean>;
  /** Where the organization's data lives, as `tenant_placements` records it (0060). */
  placement: PlatformPlacement;
}

/** The kinds of placement (docs/isolation-models.md). */
export type PlacementKind = 'pooled' | 'schema' | 'database';

/** An organization's placement: `schema` names its own schema (kind `schema`), `databaseKey` its
 *  database (kind `database`); `state` is `moving` while an online move runs. */
export interface PlatformPlacement {
  kind: PlacementKind;
  schema: string | null;
  databaseKey: string | null;
  state: 'active' | 'moving';
}

/** Builds the privileged operations on the runtime pool of the control database. */
export function createPrivilegedOps(pool: pg.Pool, log?: Logger): PrivilegedOps {
  const audit = (op: string, detail: Record<string, unknown>) =>
    log?.info({ privileged_operation: op, ...detail }, 'privileged operation');
  return {
    async invitationByToken(tokenHash) {
      audit('invitation_by_token', {});
      const res = await pool.query<{ organization_id: string; invitation_id: string }>(
        'select organization_id, invitation_id from app_priv_invitation_by_token($1)',
        [tokenHash],
      );
      const row = res.rows[0];
      return row ? { organizationId: row.organization_id, invitationId: row.invitation_id } : null;
    },
    async organizationIdBySlug(slug) {
      audit('organization_id_by_slug', { slug });
      const res = await pool.query<{ id: string | null }>(
        'select app_priv_organization_id_by_slug($1) as id',
        [slug],
      );
      return res.rows[0]?.id ?? null;
    },
    async platformOrganizations(scope, after, limit, q = null) {
      audit('platform_organizations', { after, limit, q });
      const res = await sql<
        Omit<PlatformOrganizationRow, 'placement'>
      >`select * from app_priv_platform_organizations(${after}, ${limit}, ${q})`.execute(scope);
      if (res.rows.length === 0) return [];
      // The page's placements, in the same platform scope (0060): an organization without a row is pooled.
      const ids = res.rows.map((r) => r.id);
      const placed = await sql<{
        organization_id: string;
        kind: PlacementKind;
        schema_name: string | null;
        database_key: string | null;
        state: 'active' | 'moving';
      }>`select * from app_priv_platform_placements(${ids}::uuid[])`.execute(scope);
      const byId = new Map(placed.rows.map((p) => [p.organization_id, p]));
      return res.rows.map((r) => {
        const p = byId.get(r.id);
        return {
          ...r,
          placement: {
            kind: p?.kind ?? 'pooled',
            schema: p?.schema_name ?? null,
            databaseKey: p?.database_key ?? null,
            state: p?.state ?? 'active',
          },
        };
      });
    },
    async userOrganizations(userId, proof, page) {
      const limit = Math.min(Math.max(page?.limit ?? 100, 1), 1000);
      const after = page?.after ?? null;
      audit('user_organizations', { user: userId, proof: proof.kind, after: after?.id ?? null, limit });
      const res = await pool.query<UserOrganizationRow>(
        `select organization_id as "organizationId", slug, name, role, personal
           from app_priv_user_organizations($1, $2, $3)
          where $4::text is null or (name, organization_id) > ($4::text, $5::uuid)
          order by name, organization_id limit $6`,
        [
          proof.kind === 'session' ? proof.token : null,
          userId,
          proof.kind === 'refresh_family' ? proof.familyId : null,
          after?.name ?? null,
          after?.id ?? null,
          limit,
        ],
      );
      return res.rows;
    },
    async apiKeyByKeyId(keyId, secretHash) {
      audit('api_key_by_key_id', { key_id: keyId });
      const res = await pool.query<{
        organization_id: string;
        id: string;
        scopes: string[];
        expires_at: Date | null;
        revoked_at: Date | null;
        rate_limit_per_minute: number | null;
      }>('select * from app_priv_api_key_by_key_id($1, $2)', [keyId, secretHash]);
      const row = res.rows[0];
      return row
        ? {
            organizationId: row.organization_id,
            id: row.id,
            scopes: row.scopes,
            expiresAt: row.expires_at,
            revokedAt: row.revoked_at,
            rateLimitPerMinute: row.rate_limit_per_minute,
          }
        : null;
    },
    async stripeOrganizationByCustomer(customerId) {
      audit('stripe_organization_by_customer', { customer: customerId });
      const res = await pool.query<{ id: string | null }>(
        'select app_priv_stripe_organization_by_customer($1) as id',
        [customerId],
      );
      return res.rows[0]?.id ?? null;
    },
  };
}

/**
 * Organizations of the Stripe provider's scheduled jobs, by id (migration 0021): `grace_expired` (past
 * due, grace ended at `now`, not suspended: the suspension job) or `subscribed` (with a subscription:
 * the meter push). Worker role only, like {@link auditChainsToCheckpoint}; refused inside a tenant scope.
 */
export async function stripeOrganizations(
  workerPool: pg.Pool,
  kind: 'grace_expired' | 'subscribed',
  now: Date,
  after: string | null,
  limit: number,
  log?: Logger,
): Promise<string[]> {
  log?.debug({ privileged_operation: 'stripe_organizations', kind, after, limit }, 'privileged operation');
  const res = await workerPool.query<{ organization_id: string }>(
    'select organization_id from worker_api.app_priv_stripe_organizations($1, $2, $3, $4)',
    [kind, now, after, limit],
  );
  return res.rows.map((r) => r.organization_id);
}

/**
 * Stripe customers of deleted organizations still to delete in Stripe, due at `now` (migration 0034; the
 * purge recorded them). Worker role only, outside any tenant scope: they belong to no tenant any more.
 */
export async function stripeCustomerDeletionsDue(
  workerPool: pg.Pool,
  now: Date,
  limit: number,
  log?: Logger,
): Promise<{ customerId: string; attempts: number }[]> {
  log?.debug({ privileged_operation: 'stripe_customer_deletions_due', limit }, 'privileged operation');
  const res = await workerPool.query<{ customer_id: string; attempts: number }>(
    'select customer_id, attempts from worker_api.app_priv_stripe_customer_deletions_due($1, $2)',
    [now, limit],
  );
  return res.rows.map((r) => ({ customerId: r.customer_id, attempts: r.attempts }));
}

/** One attempt's outcome: deleted in Stripe (`error` null), or failed and retried at `next`. Returns the
 *  attempts counted so far (null when the customer was not pending). */
export async function stripeCustomerDeletionResult(
  workerPool: pg.Pool,
  customerId: string,
  error: string | null,
  next: Date | null,
): Promise<number | null> {
  const res = await workerPool.query<{ attempts: number | null }>(
    'select worker_api.app_priv_stripe_customer_deletion_result($1, $2, $3) as attempts',
    [customerId, error, next],
  );
  return res.rows[0]?.attempts ?? null;
}

/**
 * Organizations whose audit chain moved since their last checkpoint signed with `keyId`, by id (the
 * hourly checkpoint job; nothing else about them). Runs on a pool of the WORKER role, the only role that
 * may call `worker_api.app_priv_audit_chains_to_checkpoint` (it enumerates every organization with audit
 * events: the runtime role may not). Refused inside a tenant scope.
 */
export async function auditChainsToCheckpoint(
  workerPool: pg.Pool,
  keyId: string,
  after: string | null,
  limit: number,
  log?: Logger,
): Promise<string[]> {
  log?.info({ privileged_operation: 'audit_chains_to_checkpoint', after, limit }, 'privileged operation');
  const res = await workerPool.query<{ organization_id: string }>(
    'select organization_id from worker_api.app_priv_audit_chains_to_checkpoint($1, $2, $3)',
    [keyId, after, limit],
  );
  return res.rows.map((r) => r.organization_id);
}

/**
 * Organizations with audit events recorded but not sealed into their chain yet, by id (the seal sweep,
 * src/platform/audit/sealer.ts: events a stopped process left pending). The first page (`after` null) also
 * deletes the pending events of organizations that no longer exist (migration 0066: `audit_pending` has no
 * foreign key to cascade from). Worker role only, like {@link auditChainsToCheckpoint}; refused inside a
 * tenant scope.
 */
export async function auditOrganizationsPending(
  workerPool: pg.Pool,
  after: string | null,
  limit: number,
  log?: Logger,
): Promise<string[]> {
  log?.debug({ privileged_operation: 'audit_organizations_pending', after, limit }, 'privileged operation');
  const res = await workerPool.query<{ organization_id: string }>(
    'select organization_id from worker_api.app_priv_audit_orgs_pending($1, $2)',
    [after, limit],
  );
  return res.rows.map((r) => r.organization_id);
}

/**
 * Seals up to `max` pending audit events of each of `orgs` (at most 1000) in ONE transaction of the control
 * database (`app_audit_seal_many`, migration 0070): the in-process sealer's batches
 * (src/platform/audit/sealer.ts). Returns each organization's count: -1 when another sealer holds its
 * chain head, -2 when its tables are not on the control database (a `database` placement) or its schema
 * does not exist, which the per-organization path (`sealBatch`) then seals or refuses, -3 when the call
 * had sealed `budget` events before reaching it (left for another call). Counts only. The
 * runtime role, outside any tenant scope (the function refuses inside one); `pool` is the control
 * database's runtime pool, whose connections carry no tenant between scopes.
 */
export async function auditSealOrganizations(
  pool: pg.Pool,
  orgs: readonly string[],
  max: number,
  budget: number,
  log?: Logger,
): Promise<Map<string, number>> {
  log?.debug(
    { privileged_operation: 'audit_seal_organizations', organizations: orgs.length, max, budget },
    'privileged operation',
  );
  const res = await pool.query<{ org: string; sealed: number }>(
    'select org, sealed from app_audit_seal_many($1::uuid[], $2, $3)',
    [orgs, max, budget],
  );
  return new Map(res.rows.map((r) => [r.org, Number(r.sealed)]));
}

/** An organization the period close should look at, with the day the scheduled close starts from. */
export interface BillingOrganization {
  id: string;
  /** `billing_close_start.starts_on` (migration 0023): only periods ending after it are closed. */
  startsOn: string;
}

/**
 * Organizations that may have a period to close on or before `cutoff` (a `YYYY-MM-DD` day), by id: the
 * hourly period close of the local billing provider (src/modules/billing/period-close.ts). Leaves out,
 * conservatively, those already invoiced for the last closable period (migration 0023 says how); ids only,
 * with the deployment's billing start. Worker role only (`worker_api.app_priv_billing_organizations`), like
 * {@link auditChainsToCheckpoint}; refused inside a tenant scope.
 */
export async function billingOrganizations(
  workerPool: pg.Pool,
  cutoff: string,
  after: string | null,
  limit: number,
  log?: Logger,
): Promise<BillingOrganization[]> {
  log?.debug({ privileged_operation: 'billing_organizations', cutoff, after, limit }, 'privileged operation');
  const res = await workerPool.query<{ organization_id: string; starts_on: string }>(
    'select organization_id, starts_on::text as starts_on from worker_api.app_priv_billing_organizations($1::date, $2, $3)',
    [cutoff, after, limit],
  );
  return res.rows.map((r) => ({ id: r.organization_id, startsOn: r.starts_on }));
}

/**
 * Finalizes a draft invoice of `organizationId` (migration 0019, `app_invoice_finalize`): checks its lines
 * sum to its subtotal and total, gives it the deployment's next invoice number and marks it finalized
 * (returned with the finalization time).
 * The number comes from one counter row locked until the caller's transaction ends, so a rolled-back
 * finalization returns its number and the numbers have no gaps; concurrent finalizations wait for each
 * other's commit. Contract: only inside the tenant scope of `organizationId` (the database refuses any
 * other call), on that scope's handle, in the same transaction as the draft's insert.
 */
export async function finalizeInvoice(
  db: TenantDb,
  organizationId: string,
  invoiceId: string,
): Promise<{ number: string; finalizedAt: Date }> {
  // A `database` placement: the number from the control database's counter first, then the finalization
  // on the tenant database with it, both in the scope's two-phase commit (migration 0071).
  const split = scopeStorage.getStore()?.splitsDirectory === true;
  const next = split
    ? (await sql<{ n: string }>`select app_invoice_number_next(${organizationId}) as n`.execute(db)).rows[0]!
        .n
    : undefined;
  const res =
    next === undefined
      ? await sql<{
          number: string;
          finalized_at: Date;
        }>`select number, finalized_at from app_invoice_finalize(${organizationId}, ${invoiceId})`.execute(db)
      : await sql<{
          number: string;
          finalized_at: Date;
        }>`select number, finalized_at from app_invoice_finalize(${organizationId}, ${invoiceId}, ${next}::bigint)`.execute(
          db,
        );
  const row = res.rows[0]!;
  return { number: row.number, finalizedAt: row.finalized_at };
}
