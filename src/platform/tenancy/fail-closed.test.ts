import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { uuidv7 } from '../ids.js';
import { connect, createTestOrg } from '../../../test/support/tenancy.js';
import { kindDatabase, PLACEMENT_KINDS, type KindDatabase } from '../../../test/support/placement-kinds.js';
import type { ProvisionedDatabase } from '../../../test/support/provision.js';
import type { Tenancy } from './tenancy.js';
import { REACHABLE_RELATIONS, REACHABLE_SCHEMAS } from '../../../test/support/catalog.js';
import { GLOBAL_RELATIONS } from '../db/runtime-grants.js';
import { citusSchemaTenantSetter, citusTenantSetter } from './citus-setter.js';

/**
 * Every tenant table the runtime role can reach (any schema; `organization_id`, or organizations itself),
 * read from the catalog, so a future table is covered the day it is added, and every other relation it
 * holds a privilege on unless declared global (`GLOBAL_RELATIONS`): a table keyed by another column
 * (`org_id`) then has no seed here and fails the suite by name. Names as `unprotectedTenantTables` gives
 * them (schema-qualified outside `public`).
 */
export async function tenantTables(admin: pg.Client, runtimeRole: string): Promise<string[]> {
  const res = await admin.query<{ name: string }>(
    `select distinct case when n.nspname = 'public' then '' else n.nspname || '.' end || c.relname as name
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     left join pg_attribute a on a.attrelid = c.oid and a.attname = 'organization_id' and not a.attisdropped
     where (c.relnamespace in (${REACHABLE_SCHEMAS}) and c.relkind in ('r', 'p')
       and (a.attname is not null or (n.nspname = 'public' and c.relname = 'organizations')))
        or (c.oid in (${REACHABLE_RELATIONS})
            and case when n.nspname = 'public' then '' else n.nspname || '.' end || c.relname <> all ($2::text[]))
     order by 1`,
    [runtimeRole, Object.keys(GLOBAL_RELATIONS)],
  );
  return res.rows.map((r) => r.name);
}

/**
 * One row of organization `$1` per tenant table, inserted as the superuser (and, with fresh keys, the row
 * the runtime role tries to insert). `$2` is a user that exists. A tenant table
 * without a seed here fails the suite, naming it: add one when you add a table.
 */
const SEEDS: Record<string, string> = {
  organizations: `insert into organizations (id, slug, name) values ($1, 'fc-' || substr(md5(random()::text), 1, 12), 'x')`,
  tenant_placements: `insert into tenant_placements (organization_id) values ($1)`,
  placement_moves: `insert into placement_moves (organization_id, id, from_kind, to_kind, step, requested_by)
    values ($1, gen_random_uuid(), 'pooled', 'schema', 'done', 't')`,
  idempotency_keys: `insert into idempotency_keys (organization_id, scope, key, request_hash, response)
    values ($1, 's', gen_random_uuid()::text, 'h', '{}')`,
  projects: `insert into projects (organization_id, id, name) values ($1, gen_random_uuid(), 'p-' || gen_random_uuid())`,
  memberships: `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'member', 'active')`,
  roles: `insert into roles (organization_id, key, name, permissions)
    values ($1, 'r' || substr(md5(random()::text), 1, 10), 'r', '{}')`,
  invitations: `insert into invitations (organization_id, id, email_normalized, role, token_hash, status, expires_at)
    values ($1, gen_random_uuid(), gen_random_uuid() || '@example.test', 'member',
            sha256(gen_random_uuid()::text::bytea), 'pending', now() + interval '1 day')`,
  invitation_sends: `insert into invitation_sends (organization_id, id, invitation_id, email_normalized)
    values ($1, gen_random_uuid(), gen_random_uuid(), 'x@example.test')`,
  api_keys: `insert into api_keys (organization_id, id, key_id, name, scopes, secret_hash)
    values ($1, gen_random_uuid(), substr(md5(random()::text), 1, 16), 'k', '{}', sha256('s'))`,
  api_key_lookup: `insert into api_key_lookup (key_id, organization_id, api_key_id)
    values (substr(md5(random()::text), 1, 16), $1, gen_random_uuid())`,
  invitation_lookup: `insert into invitation_lookup (token_hash, organization_id, invitation_id)
    values (sha256(gen_random_uuid()::text::bytea), $1, gen_random_uuid())`,
  stripe_customer_lookup: `insert into stripe_customer_lookup (customer_id, organization_id)
    values ('cus_' || substr(md5(random()::text), 1, 14), $1)`,
  sso_connections: `insert into sso_connections (organization_id, id, kind, name, oidc_issuer, oidc_client_id)
    values ($1, gen_random_uuid(), 'oidc', 'c', 'https://idp.example.test', 'client')`,
  sso_connection_lookup: `insert into sso_connection_lookup (connection_id, organization_id) values (gen_random_uuid(), $1)`,
  organization_domains: `insert into organization_domains (organization_id, domain, verification_token)
    values ($1, substr(md5(random()::text), 1, 12) || '.example.test', 't')`,
  verified_domain_lookup: `insert into verified_domain_lookup (domain, organization_id)
    values (substr(md5(random()::text), 1, 12) || '.example.test', $1)`,
  sso_identities: `with c as (insert into sso_connections (organization_id, id, kind, name, oidc_issuer, oidc_client_id)
      values ($1, gen_random_uuid(), 'oidc', 'c', 'https://idp.example.test', 'client') returning id)
    insert into sso_identities (organization_id, connection_id, subject, user_id)
    select $1, c.id, gen_random_uuid()::text, $2 from c`,
  feature_flag_overrides: `insert into feature_flag_overrides (organization_id, flag_key, value) values ($1, (select max(key) from feature_flags where key like 'fc.%'), 'true')`,
  organization_plan_changes: `insert into organization_plan_changes (organization_id, id, from_plan, to_plan, via)
    values ($1, gen_random_uuid(), 'free', 'pro', 'platform')`,
  audit_events: `insert into audit_events (organization_id, seq, id, occurred_at, actor_type, action, target_type,
      prev_hash, hash)
    values ($1, (select coalesce(max(seq), 0) + 1 from audit_events where organization_id = $1), gen_random_uuid(),
            now(), 'system', 'test.seeded', 't', sha256('a'), sha256('b'))`,
  audit_pending: `insert into audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type, action,
      target_type) values ($1, gen_random_uuid(), now(), '{', '}', 'system', 'test.seeded', 't')`,
  audit_chain_heads: `insert into audit_chain_heads (organization_id, seq, hash) values ($1, 0, sha256('h'))`,
  invoices: `insert into invoices (organization_id, id, currency, period_start, period_end, subtotal, total, lines)
    values ($1, gen_random_uuid(), 'EUR', '2001-01-01', '2001-02-01', 100, 100, '[{"amount": 100}]')`,
  stripe_customers: `insert into stripe_customers (organization_id, customer_id)
    values ($1, 'cus_' || substr(md5(random()::text), 1, 14))`,
  stripe_meter_pushes: `insert into stripe_meter_pushes (organization_id, identifier, subscription_id, meter, event_name,
      customer_id, value, total_after)
    values ($1, gen_random_uuid()::text, 'sub_x', 'api_requests', 'e', 'cus_x', 1, random() * 1000 + 1)`,
  audit_checkpoints: `insert into audit_checkpoints (organization_id, id, seq, head_hash, signed_at, key_id, signature)
    values ($1, gen_random_uuid(), 1, sha256('h'), now(), 'k', '\\x00')`,
  usage_events: `insert into usage_events (organization_id, id, meter, occurred_at)
    values ($1, gen_random_uuid()::text, 'api_requests', now())`,
  usage_event_keys: `insert into usage_event_keys (organization_id, id, digest, occurred_at)
    values ($1, gen_random_uuid()::text, sha256('e'), now())`,
  quota_notices: `insert into quota_notices (organization_id, id, meter, period, period_start, threshold, enforcement,
      quota_limit, usage)
    values ($1, gen_random_uuid(), 'api_requests', 'day', now() - random() * interval '1000 days', 80, 'soft', 10, 8)`,
  scim_tokens: `insert into scim_tokens (organization_id, id, token_id)
    values ($1, gen_random_uuid(), substr(md5(random()::text), 1, 16))`,
  scim_token_lookup: `insert into scim_token_lookup (token_id, organization_id, scim_token_id, secret_hash)
    values (substr(md5(random()::text), 1, 16), $1, gen_random_uuid(), sha256('s'))`,
  scim_users: `insert into scim_users (organization_id, user_id, user_name) values ($1, $2, 'seed')
    on conflict do nothing`,
  scim_groups: `insert into scim_groups (organization_id, id, display_name)
    values ($1, gen_random_uuid(), gen_random_uuid()::text)`,
  scim_group_members: `with g as (insert into scim_groups (organization_id, id, display_name)
      values ($1, gen_random_uuid(), gen_random_uuid()::text) returning id),
    n as (insert into scim_users (organization_id, user_id, user_name) values ($1, $2, 'seed')
      on conflict do nothing returning user_id),
    u as (select user_id from n union select user_id from scim_users where organization_id = $1 and user_id = $2)
    insert into scim_group_members (organization_id, group_id, user_id) select $1, g.id, u.user_id from g, u`,
  scim_events: `insert into scim_events (organization_id, id, method, resource, status, outcome)
    values ($1, gen_random_uuid(), 'GET', 'Users', 200, 'ok')`,
  webhook_endpoints: `insert into webhook_endpoints (organization_id, id, url, event_types, secret)
    values ($1, gen_random_uuid(), 'https://hooks.example.test/in', '{*}', 't1.x')`,
  webhook_events: `insert into webhook_events (organization_id, id, type, payload, occurred_at)
    values ($1, gen_random_uuid(), 'member.added', '{}', now())`,
  webhook_deliveries: `with ep as (insert into webhook_endpoints (organization_id, id, url, event_types, secret)
      values ($1, gen_random_uuid(), 'https://hooks.example.test/in', '{*}', 't1.x') returning id),
    ev as (insert into webhook_events (organization_id, id, type, payload, occurred_at)
      values ($1, gen_random_uuid(), 'member.added', '{}', now()) returning id)
    insert into webhook_deliveries (organization_id, id, event_id, endpoint_id)
    select $1, gen_random_uuid(), ev.id, ep.id from ep, ev`,
  webhook_delivery_attempts: `with ep as (insert into webhook_endpoints (organization_id, id, url, event_types, secret)
      values ($1, gen_random_uuid(), 'https://hooks.example.test/in', '{*}', 't1.x') returning id),
    ev as (insert into webhook_events (organization_id, id, type, payload, occurred_at)
      values ($1, gen_random_uuid(), 'member.added', '{}', now()) returning id),
    d as (insert into webhook_deliveries (organization_id, id, event_id, endpoint_id)
      select $1, gen_random_uuid(), ev.id, ep.id from ep, ev returning id)
    insert into webhook_delivery_attempts (organization_id, id, delivery_id, attempt, trigger, started_at,
      duration_ms) select $1, gen_random_uuid(), d.id, 1, 'automatic', now(), 1 from d`,
  usage_aggregates: `insert into usage_aggregates (organization_id, meter, granularity, bucket_start, aggregation,
      value, events) values ($1, 'api_requests', 'minute', now() - random() * interval '1000 days', 'count', 1, 1)`,
  usage_unique_values: `insert into usage_unique_values (organization_id, meter, month, value_digest)
    values ($1, 'api_requests', date '2026-01-01', sha256(gen_random_uuid()::text::bytea))`,
  organization_exports: `insert into organization_exports (organization_id, id, requested_by, status)
    values ($1, gen_random_uuid(), gen_random_uuid(), 'failed')`,
  // A chunk belongs to an export: the seed makes both (the chunks table sorts first).
  organization_export_chunks: `with e as (insert into organization_exports (organization_id, id, requested_by, status)
      values ($1, gen_random_uuid(), gen_random_uuid(), 'failed') returning organization_id, id)
    insert into organization_export_chunks (organization_id, export_id, seq, data)
      select organization_id, id, 0, '\\x00' from e`,
  tenant_key_unreadable_values: `insert into tenant_key_unreadable_values (organization_id, table_name, column_name,
      row_id, key_version, value_digest) values ($1, 'things', 'secret', gen_random_uuid()::text, 1, sha256('v'))`,
  saml_pending_requests: `insert into saml_pending_requests (organization_id, request_id, connection_id, return_to,
      expires_at) values ($1, '_' || gen_random_uuid(), gen_random_uuid(), '/', now() + interval '5 minutes')`,
  saml_assertion_replays: `insert into saml_assertion_replays (organization_id, assertion_id, connection_id,
      expires_at) values ($1, '_' || gen_random_uuid(), gen_random_uuid(), now() + interval '5 minutes')`,
};

/** The seed of a tenant table: a daily partition of usage_events gets a row of its own day. */
function seedOf(t: string): string | undefined {
  const day = /^usage_events_p(\d{4})(\d{2})(\d{2})$/.exec(t);
  if (!day) return SEEDS[t];
  return `insert into ${t} (organization_id, id, meter, occurred_at)
    values ($1, gen_random_uuid()::text, 'api_requests', '${day[1]}-${day[2]}-${day[3]} 12:00Z')`;
}

const colOf = (t: string) => (t === 'organizations' ? 'id' : 'organization_id');
/** A name as `tenantTables` gives it: its schema and its own name. */
const split = (t: string) => {
  const dot = t.indexOf('.');
  return dot < 0 ? { schema: 'public', name: t } : { schema: t.slice(0, dot), name: t.slice(dot + 1) };
};
/** Unqualified names in a seed resolve to the table's schema, then public (as in a tenant scope). */
const pathOf = (schema: string) => (schema === 'public' ? 'public' : `"${schema}", public`);
/** Only parameters a statement uses may be sent. */
const paramsFor = (text: string, all: unknown[]) => all.slice(0, text.includes('$2') ? 2 : 1);

/**
 * For each placement kind: `pooled` (the suite's database), `schema` (A and B each in a schema of their
 * own, in a control database where other files place organizations too) and `database` (a dedicated
 * tenant database migrated by the same migrations: its runtime role is as powerless there).
 */
describe.each(PLACEMENT_KINDS)(
  'fail closed, for every tenant table the catalog lists (invariants 3 and 4), %s',
  (kind) => {
    let where: KindDatabase;
    let db: ProvisionedDatabase;
    let tenancy: Tenancy;
    let admin: pg.Client;
    let app: pg.Client;
    let orgA: string;
    let orgB: string;
    let userA: string;
    const flagKey = `fc.${Date.now().toString(36)}`;
    let tables: string[];
    /** The tables holding A's rows: in A's schema where a table of that name is there, else in public. */
    let ofA: string[];

    beforeAll(async () => {
      where = await kindDatabase(kind);
      db = where.db;
      tenancy = where.tenancy(2);
      orgA = await createTestOrg(tenancy, 'fc-a');
      orgB = await createTestOrg(tenancy, 'fc-b');
      await where.place(tenancy, orgA, orgB);
      admin = await connect(db.adminUrl);
      app = await connect(db.url);
      userA = uuidv7();
      await admin.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
        userA,
        `fc-${userA}@example.test`,
      ]);
      await admin.query(
        `insert into feature_flags (key, kind, default_value, off_value) values ($1, 'boolean', 'false', 'false')`,
        [flagKey],
      );
      // Other organizations' placement schemas (other files place theirs in the same database) are copies
      // made by the same sync, and the catalog test checks every one: here, the schemas of A and B.
      const ours = new Set(['public', where.schemaOf(orgA), where.schemaOf(orgB)]);
      tables = (await tenantTables(admin, db.roles.runtime)).filter((t) => ours.has(split(t).schema));
      const schemaA = where.schemaOf(orgA);
      ofA = tables.filter((t) => {
        const { schema, name } = split(t);
        return schema === schemaA || (schema === 'public' && !tables.includes(`${schemaA}.${name}`));
      });
      // A real row of organization A in every table of A's (organizations: A itself exists already).
      for (const t of ofA) {
        const { schema, name } = split(t);
        const seed = seedOf(name);
        if (!seed || t === 'organizations') continue;
        const has = await admin.query(`select 1 from ${t} where organization_id = $1 limit 1`, [orgA]);
        if (has.rowCount !== 0) continue;
        await admin.query('begin');
        await admin.query(`select set_config('search_path', $1, true)`, [pathOf(schema)]);
        await admin.query(seed, paramsFor(seed, [orgA, userA]));
        await admin.query('commit');
      }
    });
    afterAll(async () => {
      await app?.end();
      await admin?.end();
      await tenancy?.close();
    });

    it('a relation the runtime role can reach, keyed by org_id and not declared global, is taken for a tenant table (and has no seed)', async () => {
      await admin.query('begin');
      try {
        await admin.query('create table throwaway_org_keyed (org_id uuid not null primary key, secret text)');
        expect(await tenantTables(admin, db.roles.runtime)).not.toContain('throwaway_org_keyed');
        await admin.query(`grant select, insert on throwaway_org_keyed to "${db.roles.runtime}"`);
        const listed = await tenantTables(admin, db.roles.runtime);
        expect(listed).toContain('throwaway_org_keyed');
        expect(listed.filter((t) => !seedOf(split(t).name))).toEqual(['throwaway_org_keyed']);
      } finally {
        await admin.query('rollback');
      }
    });

    it("every tenant table has a seed here (a new table must add one), and each of A's holds a row of A", async () => {
      expect(tables.length).toBeGreaterThanOrEqual(12);
      expect(tables.filter((t) => !seedOf(split(t).name))).toEqual([]);
      if (kind === 'schema') {
        // A's placed tables are in its schema, and in B's schema and public's copies it holds none.
        expect(ofA.filter((t) => split(t).schema !== 'public')).toContain(`${where.schemaOf(orgA)}.projects`);
        expect(ofA).not.toContain('projects');
      } else expect(ofA).toEqual(tables);
      for (const t of ofA) {
        const n = await admin.query<{ n: number }>(
          `select count(*)::int as n from ${t} where ${colOf(t)} = $1`,
          [orgA],
        );
        expect({ t, n: n.rows[0]!.n > 0 }).toEqual({ t, n: true });
      }
    });

    /** Set by a test for its next `asRuntime`: the tenant set by the Citus setter's statements instead. */
    let viaSetLocal = false;

    /** Runs `fn` as the runtime role with no tenant (null) or B's (and B's search path, as a scope of
     *  B has it), in a transaction rolled back after. */
    async function asRuntime(tenant: string | null, fn: () => Promise<void>): Promise<void> {
      await app.query('begin');
      try {
        if (tenant && viaSetLocal) {
          // SET LOCAL app.tenant_id (and search_path), each its own statement, as the Citus setter sends.
          const setter =
            kind === 'schema' ? citusSchemaTenantSetter(tenant, where.schemaOf(tenant)) : citusTenantSetter;
          for (const stmt of setter.prelude(tenant, 'write')) await app.query(stmt.text);
          const set = await app.query<{ t: string }>(`select app_current_tenant()::text as t`);
          expect(set.rows[0]!.t).toBe(tenant);
        } else if (tenant)
          await app.query(
            `select set_config('app.tenant_id', $1, true), set_config('search_path', $2, true)`,
            [tenant, pathOf(where.schemaOf(tenant))],
          );
        await fn();
      } finally {
        viaSetLocal = false;
        await app.query('rollback');
      }
    }

    /** A statement that must be refused (no grant, or RLS) or touch nothing. */
    async function refusedOrNothing(t: string, what: string, text: string, values: unknown[]): Promise<void> {
      await app.query('savepoint s');
      const res = await app.query(text, values).catch((e: Error) => e);
      await app.query('rollback to savepoint s');
      const refused = /row-level security|permission denied|append-only/;
      if (res instanceof Error)
        expect({ t, what, refused: refused.test(res.message) }).toEqual({ t, what, refused: true });
      else expect({ t, what, rows: res.rowCount }).toEqual({ t, what, rows: 0 });
    }

    for (const scope of ['no tenant', 'tenant B', 'tenant B (Citus setter: SET LOCAL)'] as const) {
      it(`${scope}: every tenant table reads no row of A, and refuses or ignores INSERT/UPDATE/DELETE of A`, async () => {
        viaSetLocal = scope.endsWith('SET LOCAL)');
        await asRuntime(scope === 'no tenant' ? null : orgB, async () => {
          for (const t of tables) {
            const col = colOf(t);
            // A relation the runtime role holds no privilege on (a daily partition of usage_events, reached
            // only through its parent) refuses the read outright: that is no row either.
            await app.query('savepoint r');
            const read = await app
              .query<{ n: number }>(`select count(*)::int as n from ${t} where ${col} = $1`, [orgA])
              .catch((e: Error) => e);
            await app.query('rollback to savepoint r');
            if (read instanceof Error)
              expect({ t, denied: /permission denied/.test(read.message) }).toEqual({ t, denied: true });
            else expect({ t, n: read.rows[0]!.n }).toEqual({ t, n: 0 });
            if (scope === 'no tenant') {
              await app.query('savepoint a');
              const all = await app
                .query<{ n: number }>(`select count(*)::int as n from ${t}`)
                .catch((e: Error) => e);
              await app.query('rollback to savepoint a');
              if (all instanceof Error) expect(all.message).toMatch(/permission denied/);
              else expect({ t, n: all.rows[0]!.n }).toEqual({ t, n: 0 });
            }
            const seed =
              t === 'organizations'
                ? SEEDS.organizations!.replace('values ($1', 'values (gen_random_uuid()')
                : seedOf(split(t).name)!;
            // Inserting a row of A: refused (for organizations: a new organization, outside its own scope).
            // The seed's unqualified names reach this table's schema through the search path.
            await app.query('savepoint i');
            await app.query(`select set_config('search_path', $1, true)`, [pathOf(split(t).schema)]);
            const ins = await app
              .query(seed, t === 'organizations' ? [] : paramsFor(seed, [orgA, userA]))
              .catch((e: Error) => e);
            await app.query('rollback to savepoint i');
            expect({
              t,
              refused:
                ins instanceof Error ? /row-level security|permission denied/.test(ins.message) : false,
            }).toEqual({ t, refused: true });
            await refusedOrNothing(t, 'update', `update ${t} set ${col} = ${col} where ${col} = $1`, [orgA]);
            // With no tenant, statements on every row too (in B's scope they would rightly reach B's rows).
            if (scope === 'no tenant')
              await refusedOrNothing(t, 'update all', `update ${t} set ${col} = ${col}`, []);
            await refusedOrNothing(t, 'delete', `delete from ${t} where ${col} = $1`, [orgA]);
            if (scope === 'no tenant') await refusedOrNothing(t, 'delete all', `delete from ${t}`, []);
          }
        });
        for (const t of ofA) {
          const n = await admin.query<{ n: number }>(
            `select count(*)::int as n from ${t} where ${colOf(t)} = $1`,
            [orgA],
          );
          expect({ t, n: n.rows[0]!.n > 0 }).toEqual({ t, n: true });
        }
      });
    }

    it('an empty tenant setting (what a pooled session reads after a local setting ends) means no rows, not an error', async () => {
      await app.query('begin');
      await app.query(`select set_config('app.tenant_id', '', true)`);
      const res = await app.query<{ n: number }>(
        `select (select count(*)::int from projects) + (select count(*)::int from ${where.schemaOf(orgA)}.projects) as n`,
      );
      await app.query('commit');
      expect(res.rows[0]!.n).toBe(0);
    });

    it('tenant B cannot move its own row into tenant A (WITH CHECK)', async () => {
      await asRuntime(orgB, async () => {
        await app.query(`insert into projects (organization_id, id, name) values ($1, $2, 'b-own')`, [
          orgB,
          uuidv7(),
        ]);
        await expect(
          app.query(`update projects set organization_id = $1 where name = 'b-own'`, [orgA]),
        ).rejects.toThrow(/row-level security/);
      });
    });

    it('session-level SET of the tenant is not what the core does: after a scope the session has no tenant', async () => {
      const r = await app.query<{ t: string | null }>(`select current_setting('app.tenant_id', true) as t`);
      expect(r.rows[0]!.t ?? '').toBe('');
    });
  },
);
