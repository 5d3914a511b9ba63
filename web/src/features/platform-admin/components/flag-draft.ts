import { canonicalJson } from '../../flags/components/flag-value';
import type { CreateFlagBody } from '../api/createFlagDefinition';
import type { FlagDefinition } from '../api/listFlagDefinitions';

/**
 * The flag definition form's state and its conversion to and from the API. Values are chosen, not
 * typed: a boolean flag's are `'true'`/`'false'`, a multivariate flag's are its variants, referred to by
 * a form-local id (`uid`) so renaming a variant keeps every choice of it.
 */

export type Kind = 'boolean' | 'multivariate';
export type Unit = 'organization' | 'user';

export interface VariantDraft {
  readonly uid: string;
  readonly key: string;
  /** The value as JSON text. */
  readonly json: string;
}

export interface RolloutDraft {
  readonly by: Unit;
  /** Multivariate flags may split by weights instead of serving one value to a percentage. */
  readonly mode: 'percentage' | 'weights';
  readonly percentage: number | string;
  readonly value: string;
  /** Weight (%) by variant uid. */
  readonly weights: Readonly<Record<string, number | string>>;
}

export interface RuleDraft {
  readonly uid: string;
  readonly plans: readonly string[];
  /** `{"region": ["eu", "us"]}` as JSON text; empty for none. */
  readonly attributes: string;
  readonly serve: 'value' | 'rollout';
  readonly value: string;
  readonly rollout: RolloutDraft;
}

export interface FlagDraft {
  readonly key: string;
  readonly description: string;
  readonly kind: Kind;
  readonly variants: readonly VariantDraft[];
  readonly defaultValue: string;
  readonly offValue: string;
  readonly killed: boolean;
  readonly allowOrgOverride: boolean;
  readonly rules: readonly RuleDraft[];
  readonly rolloutOn: boolean;
  readonly rollout: RolloutDraft;
}

let next = 0;
/** A form-local id for a new variant or rule. */
export const uid = (prefix: string) => `${prefix}${++next}`;

export const newRollout = (kind: Kind, variants: readonly VariantDraft[]): RolloutDraft => ({
  by: 'organization',
  mode: 'percentage',
  percentage: 0,
  value: kind === 'boolean' ? 'true' : (variants[0]?.uid ?? ''),
  weights: {},
});

export const newRule = (kind: Kind, variants: readonly VariantDraft[]): RuleDraft => ({
  uid: uid('r'),
  plans: [],
  attributes: '',
  serve: 'value',
  value: kind === 'boolean' ? 'true' : (variants[0]?.uid ?? ''),
  rollout: newRollout(kind, variants),
});

export function newFlagDraft(): FlagDraft {
  return {
    key: '',
    description: '',
    kind: 'boolean',
    variants: [
      { uid: uid('v'), key: 'control', json: '"control"' },
      { uid: uid('v'), key: 'treatment', json: '"treatment"' },
    ],
    defaultValue: 'false',
    offValue: 'false',
    killed: false,
    allowOrgOverride: false,
    rules: [],
    rolloutOn: false,
    rollout: newRollout('boolean', []),
  };
}

/** The form's state for a stored definition. */
export function draftOf(def: FlagDefinition): FlagDraft {
  const variants = def.variants.map((v) => ({ uid: uid('v'), key: v.key, json: JSON.stringify(v.value) }));
  const byCanon = new Map(def.variants.map((v, i) => [canonicalJson(v.value), variants[i]!.uid]));
  const choice = (value: unknown) =>
    def.kind === 'boolean' ? String(value === true) : (byCanon.get(canonicalJson(value)) ?? '');
  const rollout = (r: FlagDefinition['rules'][number]['rollout']): RolloutDraft =>
    r
      ? {
          by: r.by,
          mode: r.weights ? 'weights' : 'percentage',
          percentage: r.percentage ?? 0,
          value: r.value !== undefined ? choice(r.value) : newRollout(def.kind, variants).value,
          weights: Object.fromEntries((r.weights ?? []).map((w) => [choice(w.value), w.weight])),
        }
      : newRollout(def.kind, variants);
  return {
    key: def.key,
    description: def.description,
    kind: def.kind,
    variants: def.kind === 'multivariate' ? variants : newFlagDraft().variants,
    defaultValue: choice(def.defaultValue),
    offValue: choice(def.offValue),
    killed: def.killed,
    allowOrgOverride: def.allowOrgOverride,
    rules: def.rules.map((r) => ({
      uid: uid('r'),
      plans: r.plans ?? [],
      attributes: r.attributes ? JSON.stringify(r.attributes) : '',
      serve: r.rollout ? 'rollout' : 'value',
      value: r.value !== undefined ? choice(r.value) : newRule(def.kind, variants).value,
      rollout: rollout(r.rollout),
    })),
    rolloutOn: def.rollout !== null,
    rollout: rollout(def.rollout ?? undefined),
  };
}

type Spec = Omit<CreateFlagBody, 'key'>;
type RuleBody = NonNullable<Spec['rules']>[number];
type Errors = Record<string, string>;

/**
 * The API body of a draft, or what is wrong with it that the browser can tell (JSON that does not parse,
 * a choice of a variant that is gone). The rest (percentages, weights adding up to 100, plan names) is
 * the server's to say, next to the same fields.
 */
export function specOf(d: FlagDraft): { ok: true; spec: Spec } | { ok: false; errors: Errors } {
  const errors: Errors = {};
  const fail = (field: string, message: string) => {
    errors[field] ??= message;
  };
  const values = new Map<string, unknown>();
  const variants: { key: string; value: unknown }[] = [];
  if (d.kind === 'multivariate') {
    d.variants.forEach((v, i) => {
      try {
        const value: unknown = JSON.parse(v.json);
        values.set(v.uid, value);
        variants.push({ key: v.key.trim(), value });
      } catch {
        fail(
          'variants',
          `Variant ${i + 1} (${v.key || 'no key'}): the value is not valid JSON (a string needs quotes).`,
        );
      }
    });
  }
  const valueOf = (choice: string, field: string): unknown => {
    if (d.kind === 'boolean') return choice === 'true';
    // A variant whose JSON did not parse is already reported with the variants.
    if (!d.variants.some((v) => v.uid === choice)) fail(field, 'Choose one of the variants.');
    return values.get(choice);
  };
  const rolloutOf = (r: RolloutDraft, field: string) =>
    r.mode === 'weights' && d.kind === 'multivariate'
      ? {
          by: r.by,
          weights: d.variants
            .map((v) => ({ value: values.get(v.uid), weight: Number(r.weights[v.uid] ?? 0) }))
            .filter((w) => w.weight > 0),
        }
      : { by: r.by, percentage: Number(r.percentage), value: valueOf(r.value, field) };
  const rules = d.rules.map((r, i) => {
    const rule: RuleBody = {};
    if (r.plans.length > 0) rule.plans = [...r.plans];
    if (r.attributes.trim()) {
      const parsed = parseRuleAttributes(r.attributes);
      if (typeof parsed === 'string') fail('rules', `Rule ${i + 1}: ${parsed}`);
      else rule.attributes = parsed;
    }
    if (r.serve === 'value') rule.value = valueOf(r.value, 'rules');
    else rule.rollout = rolloutOf(r.rollout, 'rules');
    return rule;
  });
  const spec: Spec = {
    kind: d.kind,
    description: d.description,
    variants: d.kind === 'multivariate' ? variants : [],
    defaultValue: valueOf(d.defaultValue, 'defaultValue'),
    offValue: valueOf(d.offValue, 'offValue'),
    killed: d.killed,
    allowOrgOverride: d.allowOrgOverride,
    rules,
    rollout: d.rolloutOn ? rolloutOf(d.rollout, 'rollout') : null,
  };
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, spec };
}

/** A rule's attribute conditions: `{"name": [values…]}` (a single value stands for a list of one). */
function parseRuleAttributes(text: string): Record<string, (string | number | boolean)[]> | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'the attributes are not valid JSON, e.g. {"region": ["eu", "us"]}.';
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return 'the attributes must be a JSON object, e.g. {"region": ["eu", "us"]}.';
  }
  const out: Record<string, (string | number | boolean)[]> = {};
  for (const [name, v] of Object.entries(parsed)) {
    const list: unknown[] = Array.isArray(v) ? v : [v];
    if (!list.every((x) => ['string', 'number', 'boolean'].includes(typeof x))) {
      return `attribute “${name}” must list strings, numbers or booleans.`;
    }
    out[name] = list as (string | number | boolean)[];
  }
  return out;
}

/** A one-line summary of a definition's targeting, for the list. */
export function targetingSummary(def: FlagDefinition): string {
  const parts: string[] = [];
  if (def.rules.length) parts.push(`${def.rules.length} rule${def.rules.length === 1 ? '' : 's'}`);
  if (def.rollout) {
    parts.push(
      def.rollout.weights
        ? `split by ${def.rollout.by}`
        : `${def.rollout.percentage ?? 0} % of ${def.rollout.by === 'user' ? 'users' : 'organizations'}`,
    );
  }
  return parts.length ? parts.join(' · ') : 'default for everyone';
}
