import { addDays, isIsoDate } from './pricing/calendar-days.js';
import type { PricingPeriod } from './pricing/price-invoice.js';

/**
 * Billing periods of the local provider: calendar months or calendar years in UTC (`start` inclusive,
 * `end` exclusive). Day arithmetic lives here, outside the pricing folder, whose lint rule forbids `/`.
 */

const MS_PER_DAY = 86_400_000;

/** Whole days from `from` to `to` (UTC dates; negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / MS_PER_DAY);
}

/** The calendar month or year (UTC) that contains `date`. */
export function calendarPeriod(interval: 'month' | 'year', date: string): PricingPeriod {
  if (!isIsoDate(date)) throw new RangeError(`not a YYYY-MM-DD date: ${date}`);
  const year = Number(date.slice(0, 4));
  const month = Number(date.slice(5, 7));
  const iso = (y: number, m: number) => new Date(Date.UTC(y, m - 1, 1)).toISOString().slice(0, 10);
  const start = interval === 'month' ? iso(year, month) : iso(year, 1);
  const end = interval === 'month' ? iso(year, month + 1) : iso(year + 1, 1);
  return { start, end, days: daysBetween(start, end) };
}

/** A period given by its dates (`end` exclusive), with its day count; throws on a malformed one. */
export function periodOf(start: string, end: string): PricingPeriod {
  if (!isIsoDate(start) || !isIsoDate(end)) throw new RangeError('period dates must be YYYY-MM-DD');
  const days = daysBetween(start, end);
  if (days < 1) throw new RangeError('a period ends after it starts');
  return { start, end, days };
}

/** The UTC date of an instant, `YYYY-MM-DD`. */
export const utcDate = (at: Date): string => at.toISOString().slice(0, 10);

export { addDays };
