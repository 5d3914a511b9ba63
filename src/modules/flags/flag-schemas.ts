import { Type } from '@fastify/type-provider-typebox';
import { ATTRIBUTE_NAME_RE, FLAG_LIMITS, PLAN_RE, VARIANT_KEY_RE } from './flag-model.js';

// TypeBox schemas of flag definitions. They check shapes; what they cannot say (values against the
// kind and variants, weights adding up to 100, two decimals) is checked by `checkFlagSpec`.

export const FlagKey = Type.String({ minLength: 1, maxLength: 100, pattern: '^[a-z0-9][a-z0-9._-]{0,99}$' });
const Kind = Type.Union([Type.Literal('boolean'), Type.Literal('multivariate')]);
const Percent = Type.Number({ minimum: 0, maximum: 100 });
const AttributeValue = Type.Union([
  Type.String({ maxLength: FLAG_LIMITS.attributeStringLength }),
  Type.Number(),
  Type.Boolean(),
]);

export const Variant = Type.Object(
  { key: Type.String({ pattern: VARIANT_KEY_RE.source }), value: Type.Unknown() },
  { additionalProperties: false },
);

export const Rollout = Type.Object(
  {
    by: Type.Union([Type.Literal('organization'), Type.Literal('user')]),
    percentage: Type.Optional(Percent),
    value: Type.Optional(Type.Unknown()),
    weights: Type.Optional(
      Type.Array(Type.Object({ value: Type.Unknown(), weight: Percent }, { additionalProperties: false }), {
        minItems: 1,
        maxItems: FLAG_LIMITS.variants,
      }),
    ),
  },
  { additionalProperties: false },
);

export const Rule = Type.Object(
  {
    plans: Type.Optional(
      Type.Array(Type.String({ pattern: PLAN_RE.source }), {
        minItems: 1,
        maxItems: FLAG_LIMITS.plansPerRule,
      }),
    ),
    attributes: Type.Optional(
      Type.Record(
        Type.String({ pattern: ATTRIBUTE_NAME_RE.source }),
        Type.Array(AttributeValue, { minItems: 1, maxItems: FLAG_LIMITS.valuesPerAttribute }),
        { additionalProperties: false, maxProperties: FLAG_LIMITS.attributesPerRule },
      ),
    ),
    value: Type.Optional(Type.Unknown()),
    rollout: Type.Optional(Rollout),
  },
  { additionalProperties: false },
);

const specFields = {
  description: Type.String({ maxLength: FLAG_LIMITS.descriptionLength }),
  variants: Type.Array(Variant, { maxItems: FLAG_LIMITS.variants }),
  killed: Type.Boolean(),
  allowOrgOverride: Type.Boolean(),
  rules: Type.Array(Rule, { maxItems: FLAG_LIMITS.rules }),
};

/** `POST /v1/platform/flags`. */
export const FlagInputBody = Type.Object(
  {
    key: FlagKey,
    kind: Kind,
    description: Type.Optional(specFields.description),
    variants: Type.Optional(specFields.variants),
    defaultValue: Type.Unknown(),
    offValue: Type.Optional(Type.Unknown()),
    killed: Type.Optional(specFields.killed),
    allowOrgOverride: Type.Optional(specFields.allowOrgOverride),
    rules: Type.Optional(specFields.rules),
    rollout: Type.Optional(Type.Union([Rollout, Type.Null()])),
  },
  { additionalProperties: false },
);

/** `PATCH /v1/platform/flags/:key`: given fields replace the stored ones. */
export const FlagPatchBody = Type.Object(
  {
    kind: Type.Optional(Kind),
    description: Type.Optional(specFields.description),
    variants: Type.Optional(specFields.variants),
    defaultValue: Type.Optional(Type.Unknown()),
    offValue: Type.Optional(Type.Unknown()),
    killed: Type.Optional(specFields.killed),
    allowOrgOverride: Type.Optional(specFields.allowOrgOverride),
    rules: Type.Optional(specFields.rules),
    rollout: Type.Optional(Type.Union([Rollout, Type.Null()])),
    version: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false, minProperties: 1 },
);

/** A stored definition. */
export const FlagDefinitionSchema = Type.Object({
  key: Type.String(),
  kind: Kind,
  description: Type.String(),
  variants: Type.Array(Variant),
  defaultValue: Type.Unknown(),
  offValue: Type.Unknown(),
  killed: Type.Boolean(),
  allowOrgOverride: Type.Boolean(),
  rules: Type.Array(Rule),
  rollout: Type.Union([Rollout, Type.Null()]),
  version: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

/** `GET /v1/flags`. */
export const FlagsAnswerSchema = Type.Object({
  flags: Type.Record(Type.String(), Type.Unknown()),
  details: Type.Array(
    Type.Object({
      key: Type.String(),
      value: Type.Unknown(),
      reason: Type.Union([
        Type.Literal('killed'),
        Type.Literal('override'),
        Type.Literal('entitlement'),
        Type.Literal('rule'),
        Type.Literal('rollout'),
        Type.Literal('default'),
      ]),
      variant: Type.Optional(Type.String()),
    }),
  ),
});

/** An organization's override. */
export const FlagOverrideSchema = Type.Object({
  flagKey: Type.String(),
  value: Type.Unknown(),
  applied: Type.Boolean(),
  updatedByUserId: Type.Union([Type.String(), Type.Null()]),
  updatedAt: Type.String({ format: 'date-time' }),
});

/** A flag an organization may override (or has overridden), with its override. */
export const OverridableFlagSchema = Type.Object({
  key: Type.String(),
  kind: Kind,
  description: Type.String(),
  variants: Type.Array(Variant),
  allowOrgOverride: Type.Boolean(),
  override: Type.Union([
    Type.Object({
      value: Type.Unknown(),
      applied: Type.Boolean(),
      updatedAt: Type.String({ format: 'date-time' }),
    }),
    Type.Null(),
  ]),
});
