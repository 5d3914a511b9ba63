import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from '../platform/tenancy/migration-helpers.js';
import { OUTSIDE_TENANT_SCOPE } from './sql-helpers.js';

/**
 * An override is of one flag, not of a key (docs/feature-flags.md, "Overrides of a deleted flag").
 *
 * In the control database deleting a flag cascades to its overrides. A tenant database (`database`
 * placements) has no foreign key to the control database's flags (`dropControlForeignKeys`), so its
 * override rows of a deleted flag stayed there, and a flag created again under the same key took them for
 * its own. Deleting them from every tenant database as the flag is deleted would need each of them
 * reachable then, and a crash between the databases would leave some behind; instead each override records
 * the flag it overrides, and an override is applied, listed, replaced and removed only as the override of
 * that flag. Nothing then depends on when (or whether) the leftovers are deleted.
 *
 * - `feature_flags.id`: a flag's identity, new at each creation (a re-created key gets another).
 * - `feature_flag_overrides.flag_id`: the flag the override was set on. Nullable: a row written before
 *   this migration in a tenant database (or a schema placement's, which the schema sync gives the column
 *   without a value) names none; such a row is of the flag of its key that existed when the row was
 *   last written (the flag's `created_at` not after the row's `updated_at`). The control database's rows
 *   are filled here: its foreign key guarantees they are of the flag their key names today.
 * - `feature_flag_overrides_flag_fkey (flag_key, flag_id)` → `feature_flags (key, id)`, on delete cascade:
 *   in the control database an override cannot name a flag id that is not its key's (an override set
 *   while its flag was deleted and created again is refused). Dropped from tenant databases with the
 *   other control keys.
 * - `worker_api.app_flag_overrides_sweep(flags, before, limit)`, the worker role's, on a tenant database
 *   only: deletes the override rows (of any organization) of flags not in `flags` (the control database's
 *   flags as the caller read them: key, id, created_at) last written before `before`, after giving the
 *   rows that name no flag theirs by the rule above. `before` keeps a row written to a flag created after
 *   the caller read the list out of reach.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  await sql`alter table feature_flags add column id uuid not null default gen_random_uuid()`.execute(db);
  await sql`alter table feature_flags add constraint feature_flags_key_id_key unique (key, id)`.execute(db);
  await sql`alter table feature_flag_overrides add column flag_id uuid`.execute(db);
  // The owner is subject to the table's forced row security: lifted for the backfill, as in 0047.
  await sql`alter table feature_flag_overrides no force row level security`.execute(db);
  await sql`update feature_flag_overrides o set flag_id = f.id from feature_flags f where f.key = o.flag_key`.execute(
    db,
  );
  await sql`alter table feature_flag_overrides force row level security`.execute(db);
  await sql`alter table feature_flag_overrides add constraint feature_flag_overrides_flag_fkey
    foreign key (flag_key, flag_id) references feature_flags (key, id) on delete cascade`.execute(db);

  // Placed tables named unqualified (the search path; pg_temp last, so no temporary table stands in).
  await sql`create function worker_api.app_flag_overrides_sweep(p_flags jsonb, p_before timestamptz, p_limit integer)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_n integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the flag overrides sweep'))}
      -- The control database's overrides go with their flag (its foreign keys); the list would be the
      -- caller's, not this database's.
      if exists (select 1 from public.tenant_placements) then
        raise exception 'flag overrides are swept only in a tenant database' using errcode = 'object_not_in_prerequisite_state';
      end if;
      if jsonb_typeof(p_flags) is distinct from 'array' or p_before is null then
        raise exception 'the flags must be an array and before a time' using errcode = 'invalid_parameter_value';
      end if;
      update feature_flag_overrides o set flag_id = f.id
        from jsonb_to_recordset(p_flags) f(key text, id uuid, created_at timestamptz)
       where o.flag_id is null and o.flag_key = f.key and o.updated_at >= f.created_at;
      delete from feature_flag_overrides o where (o.organization_id, o.flag_key) in (
        select s.organization_id, s.flag_key from feature_flag_overrides s
         where s.updated_at < p_before
           and not exists (select 1 from jsonb_to_recordset(p_flags) f(key text, id uuid, created_at timestamptz)
                            where f.key = s.flag_key and f.id = s.flag_id)
         limit least(greatest(p_limit, 1), 10000));
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);
  const fn = sql.raw('worker_api.app_flag_overrides_sweep(jsonb, timestamptz, integer)');
  await sql`alter function ${fn} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${fn} from public`.execute(db);
  await sql`grant execute on function ${fn} to ${sql.id(ctx.roles.worker)}`.execute(db);
}
