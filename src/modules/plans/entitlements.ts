/**
 * Entitlements: the flag keys an organization's plan turns on. Flag evaluation (src/modules/flags) reads
 * them from the organization's cached flag context, loaded with its plan in the same query as its
 * targeting fields and overrides, so evaluating costs no extra query; a plan change of the organization,
 * or any change of the catalog, drops those cached contexts on every instance (see docs/plans.md).
 *
 * Organizations on one plan share one set (interned by content), so 100,000 cached organizations on
 * three plans hold three sets, not 100,000.
 */
const EMPTY: ReadonlySet<string> = new Set();
const interned = new Map<string, ReadonlySet<string>>();
const MAX_INTERNED = 1_000;

/** The set of `keys`, shared with every other caller asking for the same keys. */
export function entitlementSet(keys: readonly string[] | null | undefined): ReadonlySet<string> {
  if (!keys || keys.length === 0) return EMPTY;
  const id = [...keys].sort().join('\n');
  let set = interned.get(id);
  if (!set) {
    if (interned.size >= MAX_INTERNED) interned.clear();
    set = new Set(keys);
    interned.set(id, set);
  }
  return set;
}
