import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * Issue 13, data residency: `organizations.region`, the region (REGIONS) an organization was created in.
 *
 * Issue 13, the directory split of `database` placements (docs/isolation-models.md, "Database
 * placements: the directory stays in the control database"): a tenant transaction of an organization
 * placed in a tenant database may write its placed tables there and directory or global tables in the
 * control database. Both commit or neither does: the tenant database's part is PREPAREd (two-phase
 * commit), then the control database's transaction records the decision to commit it here and commits,
 * then the prepared part is committed. The control database's COMMIT is the decision; a prepared part
 * left behind by a crash is resolved from this table (src/platform/tenancy/prepared-commits.ts).
 *
 * - `tenant_commit_decisions`: one row per decided global transaction id (gid), its tenant database's
 *   key, the outcome (`commit`, or `abort` when the resolver found the part undecided and ruled it out
 *   first) and when. No role but the definer's reaches it; the runtime role has only the functions.
 * - `app_tenant_commit_decide(gid, key)`: inside the scope's control transaction, records `commit`. A
 *   gid already ruled out (`abort`) fails it (unique violation), so that transaction rolls back too.
 * - `app_tenant_commit_outcome(gids, key)`: for the resolver (outside any tenant scope): records `abort`
 *   for each gid not decided yet (so a late `decide` fails) and returns every gid's outcome.
 * - `app_tenant_commit_pending(key, age)`: the gids of a tenant database decided more than `age` seconds
 *   ago, and `app_tenant_commit_forget(gids, key)`: the resolver forgets those whose prepared parts are
 *   gone from the tenant database (resolved for good: a gid is never used twice).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  // Data residency: the region an organization was created in (REGIONS; null: the control database).
  // Set at creation only (the runtime role's column grants on organizations stay as they were for UPDATE).
  await sql`alter table organizations add column region text
    check (region ~ '^[a-z][a-z0-9_-]{0,62}$')`.execute(db);
  await sql`create table tenant_commit_decisions (
    gid text primary key check (gid ~ '^sr_tc_[0-9a-f]{32}$'),
    database_key text not null check (length(database_key) between 1 and 63),
    outcome text not null check (outcome in ('commit', 'abort')),
    decided_at timestamptz not null default now()
  )`.execute(db);
  await sql`create index tenant_commit_decisions_key on tenant_commit_decisions (database_key, decided_at)`.execute(
    db,
  );
  await sql`revoke all on tenant_commit_decisions from public`.execute(db);
  await sql`grant select, insert, delete on tenant_commit_decisions to ${definer}`.execute(db);

  await sql
    .raw(
      `create function app_tenant_commit_decide(p_gid text, p_key text) returns void
        language plpgsql security definer set search_path = pg_catalog, public as $$
      begin
        insert into public.tenant_commit_decisions (gid, database_key, outcome) values (p_gid, p_key, 'commit');
      end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create function app_tenant_commit_outcome(p_gids text[], p_key text)
        returns table (gid text, outcome text)
        language plpgsql security definer set search_path = pg_catalog, public as $$
      begin
        ${OUTSIDE_TENANT_SCOPE('app_tenant_commit_outcome')}
        insert into public.tenant_commit_decisions (gid, database_key, outcome)
          select g, p_key, 'abort' from unnest(p_gids) g where g ~ '^sr_tc_[0-9a-f]{32}$'
          on conflict do nothing;
        return query select d.gid, d.outcome from public.tenant_commit_decisions d
          where d.gid = any (p_gids) and d.database_key = p_key;
      end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create function app_tenant_commit_forget(p_gids text[], p_key text) returns integer
        language plpgsql security definer set search_path = pg_catalog, public as $$
      declare
        v_n integer;
      begin
        ${OUTSIDE_TENANT_SCOPE('app_tenant_commit_forget')}
        delete from public.tenant_commit_decisions d where d.gid = any (p_gids) and d.database_key = p_key;
        get diagnostics v_n = row_count;
        return v_n;
      end $$`,
    )
    .execute(db);
  await sql
    .raw(
      `create function app_tenant_commit_pending(p_key text, p_age_seconds double precision)
        returns table (gid text)
        language plpgsql security definer set search_path = pg_catalog, public as $$
      begin
        ${OUTSIDE_TENANT_SCOPE('app_tenant_commit_pending')}
        return query select d.gid from public.tenant_commit_decisions d
          where d.database_key = p_key and d.decided_at < now() - make_interval(secs => p_age_seconds)
          order by d.decided_at limit 10000;
      end $$`,
    )
    .execute(db);
  for (const fn of [
    'app_tenant_commit_decide(text, text)',
    'app_tenant_commit_outcome(text[], text)',
    'app_tenant_commit_forget(text[], text)',
    'app_tenant_commit_pending(text, double precision)',
  ]) {
    await sql`alter function ${sql.raw(fn)} owner to ${definer}`.execute(db);
    await sql`revoke all on function ${sql.raw(fn)} from public`.execute(db);
    await sql`grant execute on function ${sql.raw(fn)} to ${runtime}`.execute(db);
  }
}
