import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { canonicalJson } from '../../platform/audit/canonical-json.js';
import {
  toBasisPoints,
  type AttributeValue,
  type FlagRollout,
  type FlagSpec,
  type RolloutUnit,
} from './flag-model.js';
import { isOverrideOf, type FlagIdentity, type OverrideOrigin } from './flag-identity.js';

/**
 * Flag evaluation: pure functions over definitions compiled once per cache load, so evaluating every
 * flag for a request allocates little more than its answers.
 *
 * Order: kill switch → the organization's override (when the flag allows overrides) → the organization's
 * plan entitlement (a BOOLEAN flag whose key the plan lists is on) → the first matching targeting rule →
 * the flag's rollout → the default value. Why there: the kill switch is an emergency stop; an override is
 * the organization's own explicit choice (and only where the flag allows one); a paid entitlement must not
 * be withheld by a targeting rule or a rollout percentage.
 */

export type EvaluationReason = 'killed' | 'override' | 'entitlement' | 'rule' | 'rollout' | 'default';

/** One flag's answer for one organization and user. `variant` names a multivariate flag's variant. */
export interface FlagEvaluation {
  readonly key: string;
  readonly value: unknown;
  readonly reason: EvaluationReason;
  readonly variant?: string;
}

/** Who a flag is evaluated for: the organization's targeting fields and overrides, and the user. */
export interface FlagSubject {
  readonly organizationId: string;
  /** The acting user; null (e.g. an API key without a user) makes user rollouts use the organization id. */
  readonly userId: string | null;
  readonly plan: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Overrides by flag key, with the canonical JSON of each value (computed when loaded) and the flag each
   *  was set on (`origin`; flag-identity.ts). */
  readonly overrides: ReadonlyMap<string, SubjectOverride>;
  /** Flag keys the organization's plan turns on (boolean flags only). */
  readonly entitlements: ReadonlySet<string>;
}

/** An organization's override of a key, as evaluation takes it. */
export interface SubjectOverride {
  readonly value: unknown;
  readonly canon: string;
  /** Which flag it was set on; required whenever the flag it is checked against has an identity. */
  readonly origin?: OverrideOrigin;
}

interface Outcome {
  readonly value: unknown;
  readonly variant: string | undefined;
}

interface CompiledRollout {
  readonly by: RolloutUnit;
  /** Buckets [previous upTo, upTo) of 0..9999 and what they serve; past the last one: the default. */
  readonly slices: readonly { readonly upTo: number; readonly outcome: Outcome }[];
}

interface CompiledRule {
  readonly plans: ReadonlySet<string> | null;
  readonly attributes: readonly (readonly [string, ReadonlySet<AttributeValue>])[];
  readonly outcome: Outcome | null;
  readonly rollout: CompiledRollout | null;
}

/** A definition prepared for evaluation. Treat as immutable: caches share it between requests. */
export interface CompiledFlag {
  readonly key: string;
  /** Which flag of that key this is (its id): an override of another is not its override. Null only for a
   *  definition compiled without one (tests), whose overrides are taken by key. */
  readonly identity: FlagIdentity | null;
  /** Position in its {@link CompiledFlagSet} (indexes the bucket memo). */
  readonly index: number;
  readonly kind: FlagSpec['kind'];
  readonly killed: boolean;
  readonly allowOrgOverride: boolean;
  readonly off: Outcome;
  readonly fallback: Outcome;
  readonly rules: readonly CompiledRule[];
  readonly rollout: CompiledRollout | null;
  /** Multivariate: variant key by canonical JSON of its value (also validates overrides). */
  readonly variants: ReadonlyMap<string, string> | null;
}

/**
 * The bucket (0..9999) of a unit for a flag: the first four bytes of SHA-256(`<flagKey>:<unitId>`) as a
 * big-endian uint32, modulo 10,000. Stable across processes and releases, independent between flags,
 * and monotonic under a growing percentage (raising 30 % to 40 % keeps the first 30 % in).
 */
export function bucketOf(flagKey: string, unitId: string): number {
  return createHash('sha256').update(`${flagKey}:${unitId}`).digest().readUInt32BE(0) % 10_000;
}

/**
 * Remembers the buckets of recently seen units (organization or user ids), one small array per unit
 * indexed by flag, so a returning user costs one map lookup instead of a SHA-256 per rollout flag. It is
 * a cache of the pure {@link bucketOf}: answers are identical with or without it. Its keys are bare unit
 * ids, not `tenantCacheKey`s: it holds no tenant data (a bucket is a hash of the flag key and the id, which
 * anyone holding the id can compute), and a key factory call per flag would double the cost of a call.
 */
export class BucketMemo {
  private readonly units: LRUCache<string, Uint16Array>;
  constructor(
    private readonly size: number,
    max = 10_000,
  ) {
    this.units = new LRUCache({ max });
  }
  bucket(flag: CompiledFlag, unitId: string): number {
    let buckets = this.units.get(unitId);
    if (!buckets) {
      buckets = new Uint16Array(this.size).fill(UNSET);
      this.units.set(unitId, buckets);
    }
    let b = buckets[flag.index]!;
    if (b === UNSET) buckets[flag.index] = b = bucketOf(flag.key, unitId);
    return b;
  }
}
const UNSET = 0xffff;

/** Every definition compiled, with the bucket memo that lives and dies with them. */
export interface CompiledFlagSet {
  readonly flags: readonly CompiledFlag[];
  readonly buckets: BucketMemo;
}

/** Compiles validated definitions (in the order given) into a set. */
export function compileFlagSet(
  defs: readonly { key: string; spec: FlagSpec; identity?: FlagIdentity }[],
): CompiledFlagSet {
  return {
    flags: defs.map((d, i) => compileFlag(d.key, d.spec, i, d.identity)),
    buckets: new BucketMemo(defs.length),
  };
}

/** Prepares a validated definition for evaluation (`index`: its position in its set). */
export function compileFlag(key: string, spec: FlagSpec, index = 0, identity?: FlagIdentity): CompiledFlag {
  const variants =
    spec.kind === 'multivariate' ? new Map(spec.variants.map((v) => [canonicalJson(v.value), v.key])) : null;
  const outcome = (value: unknown): Outcome => ({
    value,
    variant: variants ? variants.get(canonicalJson(value)) : undefined,
  });
  const rollout = (r: FlagRollout): CompiledRollout => {
    if (r.weights) {
      let upTo = 0;
      return {
        by: r.by,
        slices: r.weights.map((w) => {
          upTo += toBasisPoints(w.weight, 'weight');
          return { upTo, outcome: outcome(w.value) };
        }),
      };
    }
    const value = r.value === undefined ? true : r.value;
    return {
      by: r.by,
      slices: [{ upTo: toBasisPoints(r.percentage ?? 0, 'percentage'), outcome: outcome(value) }],
    };
  };
  return {
    key,
    identity: identity ?? null,
    index,
    kind: spec.kind,
    killed: spec.killed,
    allowOrgOverride: spec.allowOrgOverride,
    off: outcome(spec.offValue),
    fallback: outcome(spec.defaultValue),
    rules: spec.rules.map((r) => ({
      plans: r.plans ? new Set(r.plans) : null,
      attributes: Object.entries(r.attributes ?? {}).map(
        ([name, values]) => [name, new Set(values)] as const,
      ),
      outcome: r.value !== undefined ? outcome(r.value) : null,
      rollout: r.rollout ? rollout(r.rollout) : null,
    })),
    rollout: spec.rollout ? rollout(spec.rollout) : null,
    variants,
  };
}

const ENTITLED: Outcome = { value: true, variant: undefined };

const answer = (key: string, o: Outcome, reason: EvaluationReason): FlagEvaluation =>
  o.variant === undefined
    ? { key, value: o.value, reason }
    : { key, value: o.value, reason, variant: o.variant };

function matches(rule: CompiledRule, s: FlagSubject): boolean {
  if (rule.plans && !rule.plans.has(s.plan)) return false;
  for (const [name, allowed] of rule.attributes) {
    const v = Object.hasOwn(s.attributes, name) ? s.attributes[name] : undefined;
    if (!allowed.has(v as AttributeValue)) return false;
  }
  return true;
}

function rolledOut(flag: CompiledFlag, r: CompiledRollout, s: FlagSubject, memo?: BucketMemo): Outcome {
  const unit = r.by === 'user' && s.userId ? s.userId : s.organizationId;
  const bucket = memo ? memo.bucket(flag, unit) : bucketOf(flag.key, unit);
  for (const slice of r.slices) if (bucket < slice.upTo) return slice.outcome;
  return flag.fallback;
}

/** Evaluates one flag for one subject (see the module comment for the order); `memo` only saves hashing. */
export function evaluateFlag(flag: CompiledFlag, s: FlagSubject, memo?: BucketMemo): FlagEvaluation {
  if (flag.killed) return answer(flag.key, flag.off, 'killed');
  if (flag.allowOrgOverride) {
    const o = s.overrides.get(flag.key);
    // An override of an earlier flag of this key (deleted since) is not this flag's; one that no longer
    // fits the definition (variants changed since) is ignored.
    if (
      o &&
      (flag.identity === null || (o.origin !== undefined && isOverrideOf(flag.identity, o.origin))) &&
      (flag.variants ? flag.variants.has(o.canon) : typeof o.value === 'boolean')
    ) {
      return answer(flag.key, { value: o.value, variant: flag.variants?.get(o.canon) }, 'override');
    }
  }
  if (flag.kind === 'boolean' && s.entitlements.has(flag.key)) {
    return answer(flag.key, ENTITLED, 'entitlement');
  }
  for (const rule of flag.rules) {
    if (!matches(rule, s)) continue;
    return answer(flag.key, rule.outcome ?? rolledOut(flag, rule.rollout!, s, memo), 'rule');
  }
  if (flag.rollout) return answer(flag.key, rolledOut(flag, flag.rollout, s, memo), 'rollout');
  return answer(flag.key, flag.fallback, 'default');
}

/** Evaluates every flag of a set for one subject, in the set's order. */
export function evaluateAll(set: CompiledFlagSet, s: FlagSubject): FlagEvaluation[] {
  const { flags, buckets } = set;
  const out = new Array<FlagEvaluation>(flags.length);
  for (let i = 0; i < flags.length; i++) out[i] = evaluateFlag(flags[i]!, s, buckets);
  return out;
}
