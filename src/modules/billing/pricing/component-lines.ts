import type { PriceComponent, PriceTier } from '../price-model.js';
import { divCeil, divRoundHalfUp } from './integer-division.js';

/**
 * One component's invoice lines, in bigint minor units (no rounding happens anywhere but in
 * `divRoundHalfUp`/`divCeil`). `price-invoice.ts` adds the plan key and dates and checks the range.
 */
export interface RawLine {
  description: string;
  component: PriceComponent['model'];
  meter?: string;
  quantity: bigint;
  unitAmount?: bigint;
  amount: bigint;
}

export type FixedComponent = Extract<PriceComponent, { model: 'flat' | 'per_seat' | 'hybrid' }>;
export type UsageComponent = Extract<
  PriceComponent,
  { model: 'per_unit' | 'graduated' | 'volume' | 'package' | 'hybrid' }
>;

/** The days a fixed fee is charged for: `days` of a period of `periodDays`. */
export interface Proration {
  days: bigint;
  periodDays: bigint;
}

/** A fixed fee for `days` of the period: fee × days / periodDays, rounded half up (exact when whole). */
export function prorate(fee: bigint, p: Proration): bigint {
  return p.days === p.periodDays ? fee : divRoundHalfUp(fee * p.days, p.periodDays);
}

/** The fixed part of a component (flat fee, per-seat fee, hybrid base fee), prorated; none otherwise. */
export function fixedLines(c: PriceComponent, seats: bigint, p: Proration, suffix: string): RawLine[] {
  switch (c.model) {
    case 'flat':
      return [
        {
          description: `Flat fee${suffix}`,
          component: 'flat',
          quantity: 1n,
          unitAmount: BigInt(c.amount),
          amount: prorate(BigInt(c.amount), p),
        },
      ];
    case 'per_seat':
      return [
        {
          description: `Seats${suffix}`,
          component: 'per_seat',
          quantity: seats,
          unitAmount: BigInt(c.unitAmount),
          amount: prorate(BigInt(c.unitAmount) * seats, p),
        },
      ];
    case 'hybrid':
      return [
        {
          description: `Base fee, ${c.includedUnits} ${c.meter} included${suffix}`,
          component: 'hybrid',
          meter: c.meter,
          quantity: 1n,
          unitAmount: BigInt(c.baseAmount),
          amount: prorate(BigInt(c.baseAmount), p),
        },
      ];
    default:
      return [];
  }
}

const upper = (t: PriceTier): bigint | null => (t.upTo === null ? null : BigInt(t.upTo));

/** Graduated: each tier's units at that tier's price, a tier's flat amount once any unit is in it. */
function graduated(meter: string, tiers: readonly PriceTier[], q: bigint): RawLine[] {
  const lines: RawLine[] = [];
  let below = 0n;
  for (const [i, t] of tiers.entries()) {
    if (q <= below) break;
    const top = upper(t);
    const to = top === null || q < top ? q : top;
    const n = to - below;
    const range = top === null ? `above ${below}` : `${below + 1n} to ${top}`;
    lines.push({
      description: `${meter}: tier ${i + 1} (${range})`,
      component: 'graduated',
      meter,
      quantity: n,
      unitAmount: BigInt(t.unitAmount),
      amount: n * BigInt(t.unitAmount),
    });
    if (t.flatAmount) lines.push(flatOfTier('graduated', meter, i, t.flatAmount));
    below = to;
  }
  return lines;
}

function flatOfTier(component: 'graduated' | 'volume', meter: string, i: number, flat: number): RawLine {
  return {
    description: `${meter}: tier ${i + 1} flat fee`,
    component,
    meter,
    quantity: 1n,
    unitAmount: BigInt(flat),
    amount: BigInt(flat),
  };
}

/** Volume: every unit at the price of the tier the quantity falls in (plus that tier's flat amount). */
function volume(meter: string, tiers: readonly PriceTier[], q: bigint): RawLine[] {
  const i = tiers.findIndex((t) => t.upTo === null || q <= BigInt(t.upTo));
  const t = tiers[i]!;
  const lines: RawLine[] = [
    {
      description: `${meter}: ${q} at tier ${i + 1}`,
      component: 'volume',
      meter,
      quantity: q,
      unitAmount: BigInt(t.unitAmount),
      amount: q * BigInt(t.unitAmount),
    },
  ];
  if (t.flatAmount) lines.push(flatOfTier('volume', meter, i, t.flatAmount));
  return lines;
}

/**
 * The usage part of a component for the period's quantity `q` of its meter. Zero usage gives one line
 * of amount 0 (nothing of a tier is charged, its flat amount included, until a unit falls in it).
 */
export function usageLines(c: PriceComponent, q: bigint): RawLine[] {
  const zero = (meter: string, model: PriceComponent['model']): RawLine[] => [
    { description: `${meter}: no usage`, component: model, meter, quantity: 0n, amount: 0n },
  ];
  switch (c.model) {
    case 'per_unit':
      return [
        {
          description: `${c.meter}: ${q} units`,
          component: 'per_unit',
          meter: c.meter,
          quantity: q,
          unitAmount: BigInt(c.unitAmount),
          amount: q * BigInt(c.unitAmount),
        },
      ];
    case 'graduated':
      return q === 0n ? zero(c.meter, c.model) : graduated(c.meter, c.tiers, q);
    case 'volume':
      return q === 0n ? zero(c.meter, c.model) : volume(c.meter, c.tiers, q);
    case 'package': {
      const packages = divCeil(q, BigInt(c.packageSize));
      return [
        {
          description: `${c.meter}: ${q} units in ${packages} package(s) of ${c.packageSize}`,
          component: 'package',
          meter: c.meter,
          quantity: packages,
          unitAmount: BigInt(c.packageAmount),
          amount: packages * BigInt(c.packageAmount),
        },
      ];
    }
    case 'hybrid': {
      const included = BigInt(c.includedUnits);
      const over = q > included ? q - included : 0n;
      return [
        {
          description: `${c.meter}: ${q} units, ${over} beyond the ${included} included`,
          component: 'hybrid',
          meter: c.meter,
          quantity: over,
          unitAmount: BigInt(c.unitAmount),
          amount: over * BigInt(c.unitAmount),
        },
      ];
    }
    default:
      return [];
  }
}

/** True for the components charged for usage (hybrid: its part beyond the included units). */
export const isUsageComponent = (c: PriceComponent): c is UsageComponent =>
  c.model !== 'flat' && c.model !== 'per_seat';
