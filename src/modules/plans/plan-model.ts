import { Type, type Static } from '@fastify/type-provider-typebox';
import { Value } from 'typebox/value';
import { MeterKey, PlanPrice, type PriceComponent } from '../billing/price-model.js';
import { FLAG_KEY_RE, PLAN_RE } from '../flags/flag-model.js';
import { invalidPlan } from './plans.errors.js';

/** A plan key: the same form as `organizations.plan` (and flag rules' `plans`). */
export const PLAN_KEY_RE = PLAN_RE;
export const PlanKey = Type.String({ pattern: PLAN_KEY_RE.source });

/** Most quotas and entitlements one plan may carry. */
export const MAX_QUOTAS = 50;
export const MAX_ENTITLEMENTS = 100;

/**
 * A usage limit of a plan: at most `limit` units of `meter` per calendar `period` (UTC). `hard`: usage
 * beyond it is refused; `soft`: owners are told. Enforced by src/modules/quotas (see docs/plans.md).
 */
export const PlanQuota = Type.Object(
  {
    meter: MeterKey,
    period: Type.Union([Type.Literal('day'), Type.Literal('month')]),
    limit: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    enforcement: Type.Union([Type.Literal('hard'), Type.Literal('soft')]),
  },
  { additionalProperties: false },
);
export type PlanQuota = Static<typeof PlanQuota>;

/** Everything of a plan but its key: what creating and updating write. */
export const PlanSpec = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    description: Type.String({ maxLength: 1000 }),
    /** null: unlimited. */
    seatLimit: Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()]),
    quotas: Type.Array(PlanQuota, { maxItems: MAX_QUOTAS }),
    /** Flag keys the plan turns on (see src/modules/flags: reason `entitlement`). */
    entitlements: Type.Array(Type.String({ pattern: FLAG_KEY_RE.source }), { maxItems: MAX_ENTITLEMENTS }),
    price: PlanPrice,
    /** Offered to organization owners (`GET/PUT /v1/billing/plan`). */
    public: Type.Boolean(),
    /**
     * Days an organization on the plan keeps its audit events; null: forever. The daily retention job
     * purges older ones, cut at a signed checkpoint (docs/gdpr.md, "Retention").
     */
    auditRetentionDays: Type.Union([Type.Integer({ minimum: 1, maximum: 36_500 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type PlanSpec = Static<typeof PlanSpec>;

/** What creating a plan takes: optional fields default (description '', no quotas or entitlements,
 *  unlimited seats, not public, audit events kept forever). */
export const PlanInput = Type.Object(
  {
    key: PlanKey,
    name: PlanSpec.properties.name,
    description: Type.Optional(PlanSpec.properties.description),
    seatLimit: Type.Optional(PlanSpec.properties.seatLimit),
    quotas: Type.Optional(PlanSpec.properties.quotas),
    entitlements: Type.Optional(PlanSpec.properties.entitlements),
    price: PlanPrice,
    public: Type.Optional(Type.Boolean()),
    auditRetentionDays: Type.Optional(PlanSpec.properties.auditRetentionDays),
  },
  { additionalProperties: false },
);
export type PlanInput = Static<typeof PlanInput>;

/** A change: the given fields replace the stored ones. */
export const PlanPatch = Type.Partial(PlanSpec, { additionalProperties: false, minProperties: 1 });
export type PlanPatch = Static<typeof PlanPatch>;

/** A plan as the API shows it. */
export const PlanSchema = Type.Object({
  key: Type.String(),
  ...PlanSpec.properties,
  archivedAt: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Plan = Static<typeof PlanSchema>;

/** The spec of a creation input, defaults filled in. */
export function specFromInput(input: PlanInput): PlanSpec {
  return {
    name: input.name,
    description: input.description ?? '',
    seatLimit: input.seatLimit ?? null,
    quotas: input.quotas ?? [],
    entitlements: input.entitlements ?? [],
    price: input.price,
    public: input.public ?? false,
    auditRetentionDays: input.auditRetentionDays ?? null,
  };
}

function checkTiers(c: PriceComponent, at: string): void {
  if (c.model !== 'graduated' && c.model !== 'volume') return;
  let previous = 0;
  c.tiers.forEach((t, i) => {
    const last = i === c.tiers.length - 1;
    if (t.upTo === null && !last) throw invalidPlan(`${at}.tiers[${i}]: only the last tier is unbounded`);
    if (t.upTo !== null && t.upTo <= previous) {
      throw invalidPlan(`${at}.tiers[${i}].upTo must be greater than the previous tier's`);
    }
    if (last && t.upTo !== null) throw invalidPlan(`${at}: the last tier must be unbounded (upTo null)`);
    previous = t.upTo ?? previous;
  });
}

/**
 * Validates a spec (the same schema as the routes, for callers other than HTTP) and what a schema cannot
 * say: one quota per meter and period, entitlements without repeats, tiers ascending and ending unbounded,
 * at most one flat and one per-seat component. PLAN_INVALID (400) naming the field.
 */
export function checkPlanSpec(spec: PlanSpec): PlanSpec {
  if (!Value.Check(PlanSpec, spec)) {
    const first = [...Value.Errors(PlanSpec, spec)][0];
    throw invalidPlan(`${first?.instancePath || 'plan'}: ${first?.message ?? 'is not valid'}`);
  }
  const seen = new Set<string>();
  spec.quotas.forEach((q, i) => {
    const k = `${q.meter}/${q.period}`;
    if (seen.has(k)) throw invalidPlan(`quotas[${i}]: a second quota of ${q.meter} per ${q.period}`);
    seen.add(k);
  });
  if (new Set(spec.entitlements).size !== spec.entitlements.length) {
    throw invalidPlan('entitlements: each flag key at most once');
  }
  const count = (m: string) => spec.price.components.filter((c) => c.model === m).length;
  if (count('flat') > 1) throw invalidPlan('price.components: at most one flat fee');
  if (count('per_seat') > 1) throw invalidPlan('price.components: at most one per-seat fee');
  spec.price.components.forEach((c, i) => checkTiers(c, `price.components[${i}]`));
  return spec;
}
