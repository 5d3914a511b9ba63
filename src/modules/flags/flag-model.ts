import { canonicalJson } from '../../platform/audit/canonical-json.js';
import { invalidDefinition } from './flags.errors.js';

/** Flag keys: lowercase, digits, `.`, `_`, `-`; 1–100 characters. */
export const FLAG_KEY_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/;
export const VARIANT_KEY_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Organization plans (`free`, `pro`, `enterprise-2024`, …). */
export const PLAN_RE = /^[a-z0-9][a-z0-9_-]{0,39}$/;
/** Names of organization attributes (`region`, `seats.tier`, …). */
export const ATTRIBUTE_NAME_RE = /^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$/;

export const FLAG_LIMITS = {
  variants: 100,
  rules: 50,
  plansPerRule: 50,
  attributesPerRule: 20,
  valuesPerAttribute: 100,
  attributeStringLength: 200,
  descriptionLength: 500,
  /** Canonical JSON of a whole definition: every member of every organization downloads them all. */
  definitionBytes: 64 * 1024,
} as const;

export type FlagKind = 'boolean' | 'multivariate';
export type RolloutUnit = 'organization' | 'user';
export type AttributeValue = string | number | boolean;

/** One value a multivariate flag can take, with a key for people. */
export interface FlagVariant {
  readonly key: string;
  readonly value: unknown;
}

export interface FlagWeight {
  readonly value: unknown;
  readonly weight: number;
}

/**
 * A percentage rollout by stable hashing of the organization or user id. Either the percentage form
 * (`percentage` of units get `value`, the others the flag's default; a boolean flag's `value` is `true`
 * unless given) or, for multivariate flags, the weighted form (`weights` add up to 100 and split every
 * unit between their values). Percentages and weights have at most two decimals.
 */
export interface FlagRollout {
  readonly by: RolloutUnit;
  readonly percentage?: number;
  readonly value?: unknown;
  readonly weights?: FlagWeight[];
}

/**
 * A targeting rule: it matches an organization whose plan is one of `plans` (when given) AND whose
 * attributes each hold one of the listed values (when given). It serves `value`, or its `rollout`.
 */
export interface FlagRule {
  readonly plans?: string[];
  readonly attributes?: Record<string, AttributeValue[]>;
  readonly value?: unknown;
  readonly rollout?: FlagRollout;
}

/** Everything a definition says, except its identity and bookkeeping. */
export interface FlagSpec {
  readonly kind: FlagKind;
  readonly description: string;
  /** Multivariate flags only (boolean flags take `true`/`false`). */
  readonly variants: FlagVariant[];
  readonly defaultValue: unknown;
  /** Served to everyone while the kill switch is on. */
  readonly offValue: unknown;
  /** The kill switch. */
  readonly killed: boolean;
  /** Whether organization admins (`flags:manage`) may set their own organization's value. */
  readonly allowOrgOverride: boolean;
  readonly rules: FlagRule[];
  readonly rollout: FlagRollout | null;
}

/** A stored definition. */
export interface FlagDefinition extends FlagSpec {
  readonly key: string;
  /** Starts at 1, +1 on every change. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What a platform administrator sends to create a flag. */
export interface FlagInput {
  readonly key: string;
  readonly kind: FlagKind;
  readonly description?: string;
  readonly variants?: FlagVariant[];
  readonly defaultValue: unknown;
  /** Default: `false` for boolean flags, the default value for multivariate ones. */
  readonly offValue?: unknown;
  readonly killed?: boolean;
  readonly allowOrgOverride?: boolean;
  readonly rules?: FlagRule[];
  readonly rollout?: FlagRollout | null;
}

/** A change to a definition; `version`, when given, must be the current one (optimistic concurrency). */
export type FlagPatch = Partial<Omit<FlagInput, 'key'>> & { readonly version?: number };

/** A percentage or weight (0–100, at most two decimals) in hundredths of a percent (0–10000). */
export function toBasisPoints(p: unknown, field: string): number {
  if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 100) {
    throw invalidDefinition(`${field} must be a number from 0 to 100`);
  }
  const bp = Math.round(p * 100);
  if (Math.abs(bp - p * 100) > 1e-6) throw invalidDefinition(`${field} must have at most two decimals`);
  return bp;
}

/** Checks a value against a flag's kind and variants: `(value, field) => void`, throwing when invalid. */
export function valueCheckerFor(
  spec: Pick<FlagSpec, 'kind' | 'variants'>,
): (v: unknown, field: string) => void {
  if (spec.kind === 'boolean') {
    return (v, field) => {
      if (typeof v !== 'boolean') throw invalidDefinition(`${field} must be true or false`);
    };
  }
  const values = new Set(spec.variants.map((v) => canonicalJson(v.value)));
  return (v, field) => {
    if (v === undefined || !values.has(canonicalJson(v))) {
      throw invalidDefinition(`${field} must be the value of one of the variants`);
    }
  };
}

function checkVariants(spec: Pick<FlagSpec, 'kind' | 'variants'>): void {
  if (spec.kind === 'boolean') {
    if (spec.variants.length) throw invalidDefinition('variants: boolean flags have none (true/false)');
    return;
  }
  if (spec.variants.length < 2 || spec.variants.length > FLAG_LIMITS.variants) {
    throw invalidDefinition(`variants: a multivariate flag needs 2 to ${FLAG_LIMITS.variants} variants`);
  }
  const keys = new Set<string>();
  const values = new Set<string>();
  spec.variants.forEach((v, i) => {
    if (typeof v.key !== 'string' || !VARIANT_KEY_RE.test(v.key)) {
      throw invalidDefinition(`variants[${i}].key must match ${String(VARIANT_KEY_RE)}`);
    }
    if (v.value === undefined) throw invalidDefinition(`variants[${i}].value is required`);
    const canon = canonicalJson(v.value);
    if (keys.has(v.key)) throw invalidDefinition(`variants[${i}].key "${v.key}" is used twice`);
    if (values.has(canon)) throw invalidDefinition(`variants[${i}].value is used twice`);
    keys.add(v.key);
    values.add(canon);
  });
}

function checkRollout(
  spec: Pick<FlagSpec, 'kind' | 'variants'>,
  r: FlagRollout,
  field: string,
  checkValue: (v: unknown, field: string) => void,
): FlagRollout {
  if (r.by !== 'organization' && r.by !== 'user') {
    throw invalidDefinition(`${field}.by must be "organization" or "user"`);
  }
  if ((r.percentage === undefined) === (r.weights === undefined)) {
    throw invalidDefinition(`${field} needs either percentage (with value) or weights`);
  }
  if (r.percentage !== undefined) {
    toBasisPoints(r.percentage, `${field}.percentage`);
    const value = r.value === undefined && spec.kind === 'boolean' ? true : r.value;
    checkValue(value, `${field}.value`);
    return { by: r.by, percentage: r.percentage, value };
  }
  if (spec.kind !== 'multivariate') throw invalidDefinition(`${field}.weights: multivariate flags only`);
  if (r.value !== undefined) throw invalidDefinition(`${field}.value goes with percentage, not weights`);
  const weights = r.weights ?? [];
  if (weights.length < 1 || weights.length > FLAG_LIMITS.variants) {
    throw invalidDefinition(`${field}.weights needs 1 to ${FLAG_LIMITS.variants} entries`);
  }
  const seen = new Set<string>();
  let total = 0;
  weights.forEach((w, i) => {
    checkValue(w.value, `${field}.weights[${i}].value`);
    const canon = canonicalJson(w.value);
    if (seen.has(canon)) throw invalidDefinition(`${field}.weights[${i}].value is used twice`);
    seen.add(canon);
    total += toBasisPoints(w.weight, `${field}.weights[${i}].weight`);
  });
  if (total !== 10_000) throw invalidDefinition(`${field}.weights must add up to 100 (got ${total / 100})`);
  return { by: r.by, weights: weights.map((w) => ({ value: w.value, weight: w.weight })) };
}

function checkAttributeValue(v: unknown, field: string): void {
  const ok =
    typeof v === 'boolean' ||
    (typeof v === 'number' && Number.isFinite(v)) ||
    (typeof v === 'string' && v.length <= FLAG_LIMITS.attributeStringLength);
  if (!ok) {
    throw invalidDefinition(
      `${field} must be a string (up to ${FLAG_LIMITS.attributeStringLength} characters), a number or a boolean`,
    );
  }
}

function checkRule(
  spec: Pick<FlagSpec, 'kind' | 'variants'>,
  rule: FlagRule,
  field: string,
  checkValue: (v: unknown, field: string) => void,
): FlagRule {
  const out: { -readonly [K in keyof FlagRule]: FlagRule[K] } = {};
  if (rule.plans !== undefined) {
    if (!Array.isArray(rule.plans) || rule.plans.length < 1 || rule.plans.length > FLAG_LIMITS.plansPerRule) {
      throw invalidDefinition(`${field}.plans needs 1 to ${FLAG_LIMITS.plansPerRule} plans`);
    }
    rule.plans.forEach((p, i) => {
      if (typeof p !== 'string' || !PLAN_RE.test(p)) {
        throw invalidDefinition(`${field}.plans[${i}] must match ${String(PLAN_RE)}`);
      }
    });
    out.plans = [...new Set(rule.plans)];
  }
  if (rule.attributes !== undefined) {
    const names = Object.keys(rule.attributes);
    if (names.length < 1 || names.length > FLAG_LIMITS.attributesPerRule) {
      throw invalidDefinition(`${field}.attributes needs 1 to ${FLAG_LIMITS.attributesPerRule} attributes`);
    }
    const attributes: Record<string, AttributeValue[]> = {};
    for (const name of names) {
      const allowed = rule.attributes[name];
      if (!ATTRIBUTE_NAME_RE.test(name)) {
        throw invalidDefinition(`${field}.attributes: "${name}" must match ${String(ATTRIBUTE_NAME_RE)}`);
      }
      if (!Array.isArray(allowed) || allowed.length < 1 || allowed.length > FLAG_LIMITS.valuesPerAttribute) {
        throw invalidDefinition(
          `${field}.attributes.${name} needs 1 to ${FLAG_LIMITS.valuesPerAttribute} values`,
        );
      }
      allowed.forEach((v, i) => checkAttributeValue(v, `${field}.attributes.${name}[${i}]`));
      attributes[name] = [...new Set(allowed)];
    }
    out.attributes = attributes;
  }
  if (!out.plans && !out.attributes) throw invalidDefinition(`${field} needs plans and/or attributes`);
  if ((rule.value === undefined) === (rule.rollout === undefined)) {
    throw invalidDefinition(`${field} needs either value or rollout`);
  }
  if (rule.value !== undefined) {
    checkValue(rule.value, `${field}.value`);
    out.value = rule.value;
  } else {
    out.rollout = checkRollout(spec, rule.rollout!, `${field}.rollout`, checkValue);
  }
  return out;
}

/**
 * Validates a whole definition (what no schema can say: values against the kind and variants, weights
 * adding up to 100, two-decimal percentages, rule conditions, size) and returns it normalized (duplicate
 * plans and attribute values dropped, a boolean rollout's implicit `true` written out).
 *
 * @throws FlagsError FLAG_DEFINITION_INVALID naming the field.
 */
export function checkFlagSpec(spec: FlagSpec): FlagSpec {
  if (spec.kind !== 'boolean' && spec.kind !== 'multivariate') {
    throw invalidDefinition('kind must be "boolean" or "multivariate"');
  }
  if (typeof spec.description !== 'string' || spec.description.length > FLAG_LIMITS.descriptionLength) {
    throw invalidDefinition(`description must be at most ${FLAG_LIMITS.descriptionLength} characters`);
  }
  checkVariants(spec);
  const checkValue = valueCheckerFor(spec);
  checkValue(spec.defaultValue, 'defaultValue');
  checkValue(spec.offValue, 'offValue');
  if (!Array.isArray(spec.rules) || spec.rules.length > FLAG_LIMITS.rules) {
    throw invalidDefinition(`rules: at most ${FLAG_LIMITS.rules}`);
  }
  const normalized: FlagSpec = {
    kind: spec.kind,
    description: spec.description,
    variants: spec.variants.map((v) => ({ key: v.key, value: v.value })),
    defaultValue: spec.defaultValue,
    offValue: spec.offValue,
    killed: spec.killed === true,
    allowOrgOverride: spec.allowOrgOverride === true,
    rules: spec.rules.map((r, i) => checkRule(spec, r, `rules[${i}]`, checkValue)),
    rollout: spec.rollout ? checkRollout(spec, spec.rollout, 'rollout', checkValue) : null,
  };
  if (Buffer.byteLength(canonicalJson(normalized)) > FLAG_LIMITS.definitionBytes) {
    throw invalidDefinition(`the definition is larger than ${FLAG_LIMITS.definitionBytes / 1024} KiB`);
  }
  return normalized;
}

/** The spec of a new flag from its input, with the defaults filled in (not yet validated). */
export function specFromInput(input: Omit<FlagInput, 'key'>): FlagSpec {
  return {
    kind: input.kind,
    description: input.description ?? '',
    variants: input.variants ?? [],
    defaultValue: input.defaultValue,
    offValue:
      input.offValue !== undefined ? input.offValue : input.kind === 'boolean' ? false : input.defaultValue,
    killed: input.killed ?? false,
    allowOrgOverride: input.allowOrgOverride ?? false,
    rules: input.rules ?? [],
    rollout: input.rollout ?? null,
  };
}

/** The spec after a patch: given fields replace the stored ones (rules and variants as a whole). */
export function applyPatch(current: FlagSpec, patch: FlagPatch): FlagSpec {
  const pick = <K extends keyof FlagSpec>(k: K): FlagSpec[K] =>
    (patch as Partial<FlagSpec>)[k] !== undefined
      ? ((patch as Partial<FlagSpec>)[k] as FlagSpec[K])
      : current[k];
  return {
    kind: pick('kind'),
    description: pick('description'),
    variants: pick('variants'),
    defaultValue: pick('defaultValue'),
    offValue: pick('offValue'),
    killed: pick('killed'),
    allowOrgOverride: pick('allowOrgOverride'),
    rules: pick('rules'),
    rollout: patch.rollout === undefined ? current.rollout : patch.rollout,
  };
}
