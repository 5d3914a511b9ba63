import { money } from '../money';
import type { Plan } from '../api/getOrganizationPlan';

/** The price in one line: its fixed fees, and whether usage is charged. */
export function priceLine(plan: Pick<Plan, 'price'>): string {
  const { currency, interval, components } = plan.price;
  const parts: string[] = [];
  for (const c of components) {
    if (c.model === 'flat') parts.push(money(c.amount, currency));
    else if (c.model === 'per_seat') parts.push(`${money(c.unitAmount, currency)} per seat`);
  }
  const usage = components.some((c) => c.model !== 'flat' && c.model !== 'per_seat');
  if (parts.length === 0 && !usage) return components.length === 0 ? 'Priced by contract' : 'Free';
  return `${parts.join(' + ') || money(0, currency)} a ${interval}${usage ? ' + usage' : ''}`;
}

/** An ISO date (`2026-12-01`) as "1 Dec 2026", in UTC (billing periods are UTC days). */
export function shortDate(iso: string): string {
  return new Date(`${iso.slice(0, 10)}T00:00:00Z`).toLocaleDateString('en-GB', {
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    timeZone: 'UTC',
  });
}

/** The last day of a period whose end is exclusive (`2027-01-01` → "31 Dec 2026"). */
export function lastDay(exclusiveEnd: string): string {
  const d = new Date(`${exclusiveEnd.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return shortDate(d.toISOString());
}
