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
 * schema placement's) names no flag: it is of the flag of its key that existed when it was last written,
 * i.e. when that flag was created no later than the row's `updated_at` (a flag created after it is a new
 * one). Timestamps of two servers are compared there, for those rows only; the sweep gives them their flag.
 */

/** A flag's identity: its id and when it was created (milliseconds since the epoch). */
export interface FlagIdentity {
  readonly id: string;
  readonly createdAtMs: number;
}

/** What an override row says of its flag: the flag's id (null before 0073) and when it was last written. */
export interface OverrideOrigin {
  readonly flagId: string | null;
  readonly updatedAtMs: number;
}

/** Whether the override is of that flag (and not of an earlier flag of the same key). */
export function isOverrideOf(flag: FlagIdentity, o: OverrideOrigin): boolean {
  return o.flagId !== null ? o.flagId === flag.id : o.updatedAtMs >= flag.createdAtMs;
}
