/**
 * Which flag an override is of (migration 0073). A key names a flag only until the flag is deleted: a flag
 * created again under the same key is another flag (another `feature_flags.id`), and an override of the
 * first must never pass for one of the second. In the control database the flag's deletion cascades to its
 * overrides; a tenant database (`database` placements) has no foreign key to the control database's flags,
 * so its overrides of a deleted flag stay there until swept (overrides-sweep.ts). Each override records the
 * flag it was set on (`flag_id`), and everything that reads one (evaluation, the lists, setting, removing)
 * takes it as its key's override only when it is of the flag that key names now.
 *
 * A row written before migration 0073 outside the control database's `public` (a tenant database's, a
 * schema placement's) names no flag: it is the override of its key's current flag, as every override was
 * before 0073. No timestamp decides it (a row's `updated_at` and a flag's `created_at` come from different
 * servers' clocks). A schema placement's rows go with their flag (its foreign key cascades), so there it is
 * always right; in a tenant database the sweep records the current flag in such rows and deletes those of
 * keys that have none, and until then a flag deleted and created again under the same key takes them
 * (docs/feature-flags.md, "Overrides of a deleted flag").
 */

/** A flag's identity: its id. */
export interface FlagIdentity {
  readonly id: string;
}

/** What an override row says of its flag: the flag's id, null for a row written before 0073. */
export interface OverrideOrigin {
  readonly flagId: string | null;
}

/** Whether the override of a key is of that key's current flag `flag` (not of an earlier, deleted one). */
export function isOverrideOf(flag: FlagIdentity, o: OverrideOrigin): boolean {
  return o.flagId === null || o.flagId === flag.id;
}
