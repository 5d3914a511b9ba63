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
 * - `feature_flags.id`: a flag's identity, new at each creation (a re-created key gets another). The
 *   existing flags' ids are derived from their key and creation time (md5, immutable functions only), not
 *   a volatile default: on Citus `feature_flags` is a reference table, and `add column … default
 *   gen_random_uuid()` would give each node's replica its own ids (citusdata/citus#2149). The random
 *   default is set after the fill; a new flag's is evaluated once, on the coordinator.
 * - `feature_flag_overrides.flag_id`: the flag the override was set on. Nullable: a row written before
 *   this migration in a tenant database (or a schema placement's, which the schema sync gives the column
 *   without a value) names none; such a row is the override of its key's current flag, as before 0073
 *   (flag-identity.ts). The control database's rows are filled here: its foreign key guarantees they are
 *   of the flag their key names today.
 * - `feature_flag_overrides_flag_fkey (flag_key, flag_id)` → `feature_flags (key, id)`, on delete cascade:
 *   in the control database an override cannot name a flag id that is not its key's (an override set
 *   while its flag was deleted and created again is refused). Dropped from tenant databases with the
 *   other control keys.
 * - `worker_api.app_flag_overrides_sweep(flags, before, limit)`, the worker role's, on a tenant database
 *   only. `flags` is the control database's flags as the caller read them (`[{key, id}]`). It records in
 *   each row that names no flag the id of its key's flag in the list, then deletes the override rows (of
 *   any organization) last written before `before` that are of no listed flag: a row naming another id
 *   than its key's, or of a key not in the list. It never deletes a row naming no flag whose key is listed.
 *   `before` keeps a row written to a flag created after the caller read the list out of reach. The delete
 *   states its conditions on the row it deletes, not only in the sub-select that picks the batch: a row
 *   rewritten while the sweep waits for its lock (an override of the current flag set over a leftover of
 *   its key) is checked again as rewritten, and kept.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const definer = sql.id(ctx.roles.definer);
  await sql`alter table feature_flags add column id uuid`.execute(db);
  // One deterministic expression of immutable functions (the epoch of the UTC timestamp, not the
  // session's time zone), so every replica of a reference table computes the same id.
  await sql`update feature_flags set id = md5(key || '@' || extract(epoch from created_at at time zone 'UTC')::text)::uuid`.execute(
    db,
  );
  await sql`alter table feature_flags alter column id set default gen_random_uuid()`.execute(db);
  await sql`alter table feature_flags alter column id set not null`.execute(db);
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
  // The listed flags become one object, key → id, so that each condition is an expression of the row
  // alone (checked again on a row's new version when the row changed under the statement).
  await sql`create function worker_api.app_flag_overrides_sweep(p_flags jsonb, p_before timestamptz, p_limit integer)
    returns integer
    language plpgsql volatile security definer set search_path = pg_catalog, public, pg_temp as $$
    declare v_ids jsonb; v_n integer;
    begin ${sql.raw(OUTSIDE_TENANT_SCOPE('the flag overrides sweep'))}
      -- The control database's overrides go with their flag (its foreign keys); the list would be the
      -- caller's, not this database's.
      if exists (select 1 from public.tenant_placements) then
        raise exception 'flag overrides are swept only in a tenant database' using errcode = 'object_not_in_prerequisite_state';
      end if;
      if jsonb_typeof(p_flags) is distinct from 'array' or p_before is null then
        raise exception 'the flags must be an array and before a time' using errcode = 'invalid_parameter_value';
      end if;
      select coalesce(jsonb_object_agg(f.key, f.id), '{}'::jsonb) into v_ids
        from jsonb_to_recordset(p_flags) f(key text, id uuid) where f.key is not null and f.id is not null;
      -- Rows written before 0073: the override of their key's current flag.
      update feature_flag_overrides o set flag_id = (v_ids ->> o.flag_key)::uuid
       where o.flag_id is null and v_ids ? o.flag_key;
      delete from feature_flag_overrides o
       where o.updated_at < p_before
         and not (v_ids ? o.flag_key and (o.flag_id is null or o.flag_id = (v_ids ->> o.flag_key)::uuid))
         and (o.organization_id, o.flag_key) in (
           select s.organization_id, s.flag_key from feature_flag_overrides s
            where s.updated_at < p_before
              and not (v_ids ? s.flag_key and (s.flag_id is null or s.flag_id = (v_ids ->> s.flag_key)::uuid))
            limit least(greatest(p_limit, 1), 10000));
      get diagnostics v_n = row_count;
      return v_n;
    end $$`.execute(db);
  const fn = sql.raw('worker_api.app_flag_overrides_sweep(jsonb, timestamptz, integer)');
  await sql`alter function ${fn} owner to ${definer}`.execute(db);
  await sql`revoke all on function ${fn} from public`.execute(db);
  await sql`grant execute on function ${fn} to ${sql.id(ctx.roles.worker)}`.execute(db);
}
