import type { PlanPrice, PriceTier } from '../price-model.js';

/**
 * What the schema of `PlanPrice` cannot say, checked before any amount is computed (the plan catalog can
 * call it when a price is saved): every amount a non-negative safe integer, tiers strictly ascending with
 * only the last one unbounded (`upTo: null`) and it must be, so every quantity falls in a tier.
 * Returns the problems found, empty when the price is valid.
 */
export function priceProblems(price: PlanPrice): string[] {
  const problems: string[] = [];
  const amount = (what: string, v: unknown) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      problems.push(`${what} must be a non-negative integer of minor units`);
    }
  };
  const tiers = (where: string, list: readonly PriceTier[]) => {
    if (list.length === 0) problems.push(`${where}: at least one tier`);
    let previous = 0;
    list.forEach((t, i) => {
      amount(`${where} tier ${i + 1} unitAmount`, t.unitAmount);
      if (t.flatAmount !== undefined) amount(`${where} tier ${i + 1} flatAmount`, t.flatAmount);
      const last = i === list.length - 1;
      if (t.upTo === null) {
        if (!last) problems.push(`${where}: only the last tier may be unbounded`);
      } else {
        if (last) problems.push(`${where}: the last tier must be unbounded (upTo: null)`);
        if (!Number.isSafeInteger(t.upTo) || t.upTo <= previous) {
          problems.push(`${where}: tier ${i + 1} upTo must be an integer above the previous tier's`);
        } else previous = t.upTo;
      }
    });
  };
  price.components.forEach((c, i) => {
    const where = `component ${i + 1} (${c.model})`;
    switch (c.model) {
      case 'flat':
        amount(`${where} amount`, c.amount);
        break;
      case 'per_seat':
      case 'per_unit':
        amount(`${where} unitAmount`, c.unitAmount);
        break;
      case 'graduated':
      case 'volume':
        tiers(where, c.tiers);
        break;
      case 'package':
        amount(`${where} packageAmount`, c.packageAmount);
        if (!Number.isSafeInteger(c.packageSize) || c.packageSize < 1) {
          problems.push(`${where} packageSize must be a positive integer`);
        }
        break;
      case 'hybrid':
        amount(`${where} baseAmount`, c.baseAmount);
        amount(`${where} unitAmount`, c.unitAmount);
        if (!Number.isSafeInteger(c.includedUnits) || c.includedUnits < 0) {
          problems.push(`${where} includedUnits must be a non-negative integer`);
        }
        break;
    }
  });
  return problems;
}
