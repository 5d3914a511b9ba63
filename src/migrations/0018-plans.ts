import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

/** The platform scope check of migration 0012, unchanged (migrations are frozen once released). */
const PLATFORM_SCOPE = (what: string) => `
      v_token := nullif(current_setting('app.platform_session', true), '');
      if v_token is not null and public.app_current_tenant() is null then
        select s.user_id into v_actor from public.sessions s join public.users u on u.id = s.user_id
          where s.token_hash = sha256(convert_to(v_token, 'UTF8'))
            and s.revoked_at is null and s.idle_expires_at > now() and s.absolute_expires_at > now()
            and u.is_platform_admin and (u.totp_enabled_at is null or s.two_factor_verified);
      end if;
      if public.app_current_tenant() is not null or v_actor is null then
        raise exception '% needs the platform scope of a platform administrator''s live session', '${what}'
          using errcode = 'insufficient_privilege';
      end if;`;

const usd = (components: unknown[]) => JSON.stringify({ currency: 'USD', interval: 'month', components });

/** The seeded catalog (issue 11). Platform administrators change it afterwards; a release never does. */
const SEEDS = [
  {
    key: 'free',
    name: 'Free',
    description: 'For trying things out: three seats and a small API allowance.',
    seatLimit: 3,
    quotas: [
      { meter: 'api_requests', period: 'day', limit: 1_000, enforcement: 'hard' },
      { meter: 'api_requests', period: 'month', limit: 10_000, enforcement: 'hard' },
    ],
    price: usd([{ model: 'flat', amount: 0 }]),
    public: true,
  },
  {
    key: 'pro',
    name: 'Pro',
    description:
      'For growing teams: 20 seats, 49.00 USD a month plus 10.00 USD per seat and 1.00 USD per started 10,000 API requests.',
    seatLimit: 20,
    quotas: [{ meter: 'api_requests', period: 'month', limit: 5_000_000, enforcement: 'soft' }],
    price: usd([
      { model: 'flat', amount: 4900 },
      { model: 'per_seat', unitAmount: 1000 },
      { model: 'package', meter: 'api_requests', packageSize: 10_000, packageAmount: 100 },
    ]),
    public: true,
  },
  {
    key: 'enterprise',
    name: 'Enterprise',
    description: 'Unlimited seats and no quotas; priced by contract, set by a platform administrator.',
    seatLimit: null,
    quotas: [],
    price: usd([]),
    public: false,
  },
] as const;

/**
 * The plan catalog (issue 11): a GLOBAL table `plans` (every organization's plan refers to one of it),
 * readable by the runtime role and written only through two SECURITY DEFINER functions that demand the
 * platform scope of a platform administrator's live session; `organizations.plan` becomes a foreign key
 * to it; and `organization_plan_changes`, the append-only history of each organization's plan (the
 * pricing engine prorates from it).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);

  await sql`create table plans (
    key text primary key constraint plans_key_format check (key ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name text not null check (length(name) between 1 and 100),
    description text not null default '' check (length(description) <= 1000),
    seat_limit integer check (seat_limit is null or seat_limit >= 1),
    quotas jsonb not null default '[]'::jsonb check (jsonb_typeof(quotas) = 'array'),
    entitlements text[] not null default '{}',
    price jsonb not null check (jsonb_typeof(price) = 'object'),
    public boolean not null default false,
    archived_at timestamptz,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
  )`.execute(db);
  await sql`grant select on plans to ${runtime}`.execute(db);
  await sql`grant select, insert, update on plans to ${definer}`.execute(db); // the two functions below

  for (const p of SEEDS) {
    await sql`insert into plans (key, name, description, seat_limit, quotas, price, public)
      values (${p.key}, ${p.name}, ${p.description}, ${p.seatLimit}, ${JSON.stringify(p.quotas)}::jsonb,
              ${p.price}::jsonb, ${p.public})`.execute(db);
  }

  // A plan value already in use (a platform administrator may have set any well-formed one for flag
  // targeting) becomes an archived, non-public plan of that key, so no organization changes plan here.
  // The owner reads every organization only with FORCE lifted, inside this migration's transaction.
  await sql`alter table organizations no force row level security`.execute(db);
  await sql`insert into plans (key, name, description, price, public, archived_at)
    select distinct o.plan, o.plan, 'Kept from before the plan catalog existed.',
           ${usd([])}::jsonb, false, now()
      from organizations o where not exists (select 1 from plans p where p.key = o.plan)`.execute(db);
  await sql`alter table organizations force row level security`.execute(db);
  await sql`alter table organizations add constraint organizations_plan_fkey
    foreign key (plan) references plans (key)`.execute(db);

  // The history of each organization's plan: appended with every change, in the same transaction as the
  // change and its audit event. No row: the organization has been on its current plan since creation.
  await createTenantTable(db, ctx, {
    name: 'organization_plan_changes',
    columns: `id uuid not null,
      from_plan text not null references plans (key),
      to_plan text not null references plans (key),
      changed_at timestamptz not null default now(),
      changed_by_user_id uuid references users (id) on delete set null,
      via text not null check (via in ('owner', 'platform', 'provider'))`,
    primaryKey: ['id'],
    appendOnly: true,
  });
  await sql`create index organization_plan_changes_at_idx
    on organization_plan_changes (organization_id, changed_at)`.execute(db);

  // Platform writes. `p_plan` holds every column but the key (validated by the application; the table's
  // checks are the backstop). `create` answers nothing when the key is taken; `update` nothing when it
  // does not exist; both answer the written row.
  await sql`create function app_platform_plan_save(p_key text, p_plan jsonb, p_create boolean)
    returns setof plans
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('writing the plan catalog'))}
      if p_create then
        return query insert into public.plans as p
            (key, name, description, seat_limit, quotas, entitlements, price, public)
          values (p_key, p_plan->>'name', p_plan->>'description', (p_plan->>'seatLimit')::integer,
                  p_plan->'quotas', array(select jsonb_array_elements_text(p_plan->'entitlements')),
                  p_plan->'price', (p_plan->>'public')::boolean)
          on conflict (key) do nothing
          returning p.*;
      else
        return query update public.plans as p set
            name = p_plan->>'name', description = p_plan->>'description',
            seat_limit = (p_plan->>'seatLimit')::integer, quotas = p_plan->'quotas',
            entitlements = array(select jsonb_array_elements_text(p_plan->'entitlements')),
            price = p_plan->'price', public = (p_plan->>'public')::boolean,
            version = p.version + 1, updated_at = now()
          where p.key = p_key
          returning p.*;
      end if;
    end $$`.execute(db);
  await sql`create function app_platform_plan_archive(p_key text, p_archived boolean)
    returns setof plans
    language plpgsql volatile security definer set search_path = pg_catalog, public as $$
    declare v_token text; v_actor uuid;
    begin ${sql.raw(PLATFORM_SCOPE('archiving a plan'))}
      return query update public.plans as p set
          archived_at = case when p_archived then coalesce(p.archived_at, now()) end,
          version = p.version + 1, updated_at = now()
        where p.key = p_key
        returning p.*;
    end $$`.execute(db);
  for (const fn of [
    'app_platform_plan_save(text, jsonb, boolean)',
    'app_platform_plan_archive(text, boolean)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  }
}
