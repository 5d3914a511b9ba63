import { Type, type Static } from '@fastify/type-provider-typebox';
import { CURRENCIES, type Currency } from './currencies.js';

/**
 * The shape of a plan's price, shared by the plan catalog (which stores it) and the pricing engine (which
 * turns it into invoice lines). Money is an integer number of the currency's minor units (cents for USD,
 * yen for JPY) with an ISO 4217 code beside it; nothing on the money path is a floating-point number.
 * A price below one minor unit per unit is written with the `package` model (per N units).
 */

/**
 * ISO 4217 alphabetic code, one of the table in currencies.ts (which knows its minor units): a price in
 * a currency whose minor units are unknown could not be invoiced.
 */
export const CurrencyCode = Type.Unsafe<Currency>({
  type: 'string',
  enum: CURRENCIES,
  description: 'ISO 4217 currency code',
});

/** A non-negative amount of minor units (at most 2^53 - 1, the largest exact integer). */
export const MinorUnits = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** A meter key, as defined by platform administrators. */
export const MeterKey = Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$' });

/** One tier: units up to and including `upTo` (null: no upper bound, only on the last tier). */
export const PriceTier = Type.Object(
  {
    upTo: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    unitAmount: MinorUnits,
    flatAmount: Type.Optional(MinorUnits),
  },
  { additionalProperties: false },
);

export const PriceComponent = Type.Union([
  /** A fixed fee per period. */
  Type.Object({ model: Type.Literal('flat'), amount: MinorUnits }, { additionalProperties: false }),
  /** A fee per member (seat) of the organization. */
  Type.Object({ model: Type.Literal('per_seat'), unitAmount: MinorUnits }, { additionalProperties: false }),
  /** A fee per unit of a meter's usage in the period. */
  Type.Object(
    { model: Type.Literal('per_unit'), meter: MeterKey, unitAmount: MinorUnits },
    { additionalProperties: false },
  ),
  /** Each tier's units at that tier's price (the first 1,000 at 10, the next 9,000 at 8, ...). */
  Type.Object(
    {
      model: Type.Literal('graduated'),
      meter: MeterKey,
      tiers: Type.Array(PriceTier, { minItems: 1, maxItems: 20 }),
    },
    { additionalProperties: false },
  ),
  /** All units at the price of the tier the total falls in. */
  Type.Object(
    {
      model: Type.Literal('volume'),
      meter: MeterKey,
      tiers: Type.Array(PriceTier, { minItems: 1, maxItems: 20 }),
    },
    { additionalProperties: false },
  ),
  /** `packageAmount` per started package of `packageSize` units (rounded up). */
  Type.Object(
    {
      model: Type.Literal('package'),
      meter: MeterKey,
      packageSize: Type.Integer({ minimum: 1 }),
      packageAmount: MinorUnits,
    },
    { additionalProperties: false },
  ),
  /** A base fee that includes `includedUnits` of a meter; units beyond it at `unitAmount` each. */
  Type.Object(
    {
      model: Type.Literal('hybrid'),
      baseAmount: MinorUnits,
      meter: MeterKey,
      includedUnits: Type.Integer({ minimum: 0 }),
      unitAmount: MinorUnits,
    },
    { additionalProperties: false },
  ),
]);

/** A plan's price: its currency, billing interval and components, each becoming one or more invoice lines. */
export const PlanPrice = Type.Object(
  {
    currency: CurrencyCode,
    interval: Type.Union([Type.Literal('month'), Type.Literal('year')]),
    components: Type.Array(PriceComponent, { maxItems: 20 }),
  },
  { additionalProperties: false },
);

export type PriceTier = Static<typeof PriceTier>;
export type PriceComponent = Static<typeof PriceComponent>;
export type PlanPrice = Static<typeof PlanPrice>;
