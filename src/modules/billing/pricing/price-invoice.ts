import type { PlanPrice, PriceComponent } from '../price-model.js';
import type { Currency } from '../currencies.js';
import { addDays, isIsoDate } from './calendar-days.js';
import { fixedLines, isUsageComponent, usageLines, type RawLine } from './component-lines.js';
import { PricingError } from './pricing.errors.js';
import { priceProblems } from './validate-price.js';

/**
 * The pricing engine: a pure function from a period, the plans in effect during it, the seats and the
 * usage to invoice lines in integer minor units. No I/O, no clock, no floating point (eslint.config.js
 * forbids `/`, `Math`, `parseFloat`, `toFixed` and decimal literals in this folder; amounts are bigints
 * until they are checked into safe integers at the end). docs/billing.md states the rules.
 */

/** A billing period: `start` inclusive, `end` exclusive (UTC dates), `days` between them. */
export interface PricingPeriod {
  readonly start: string;
  readonly end: string;
  readonly days: number;
}

/** A plan in effect from day `fromDay` (inclusive) to `toDay` (exclusive), days counted from the start. */
export interface PlanSegment {
  readonly planKey: string;
  readonly price: PlanPrice;
  readonly fromDay: number;
  readonly toDay: number;
}

export interface PricingInput {
  readonly period: PricingPeriod;
  /** In order, not overlapping; days without a plan are not charged. */
  readonly segments: readonly PlanSegment[];
  /** Seats charged by per-seat components. */
  readonly seats: number;
  /** The period's usage per meter key, in whole units (a missing meter is zero). */
  readonly usage: Readonly<Record<string, number>>;
}

export interface InvoiceLine {
  description: string;
  /** The plan whose price gave the line. */
  planKey: string;
  component: PriceComponent['model'];
  meter?: string;
  quantity: number;
  unitAmount?: number;
  amount: number;
  /** The days the line covers: `periodStart` inclusive, `periodEnd` exclusive. */
  periodStart: string;
  periodEnd: string;
}

export interface PricedInvoice {
  currency: Currency;
  lines: InvoiceLine[];
  /** The sum of the line amounts, exactly. */
  subtotal: number;
  /** The subtotal (no tax or discount yet). */
  total: number;
}

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

function safe(n: bigint, what: string): number {
  if (n < 0n || n > MAX) throw new PricingError('AMOUNT_OVERFLOW', `${what} is outside 0..2^53-1`);
  return Number(n);
}

function wholeCount(v: unknown, what: string): bigint {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new PricingError('INVALID_PRICING_INPUT', `${what} must be a non-negative integer`);
  }
  return BigInt(v);
}

const invalid = (message: string) => new PricingError('INVALID_PRICING_INPUT', message);

/** Checks the input and returns the segments that have at least one day. */
function effectiveSegments(input: PricingInput): PlanSegment[] {
  const { period } = input;
  if (!isIsoDate(period.start) || !isIsoDate(period.end)) throw invalid('period dates must be YYYY-MM-DD');
  if (
    !Number.isSafeInteger(period.days) ||
    period.days < 1 ||
    addDays(period.start, period.days) !== period.end
  ) {
    throw invalid('period.days must be the number of days from start to end');
  }
  let previousEnd = 0;
  for (const s of input.segments) {
    if (!Number.isSafeInteger(s.fromDay) || !Number.isSafeInteger(s.toDay))
      throw invalid('segment days must be integers');
    if (s.fromDay < previousEnd || s.toDay < s.fromDay || s.toDay > period.days) {
      throw invalid('segments must be in order, not overlapping, within the period');
    }
    if (typeof s.planKey !== 'string' || s.planKey.length === 0)
      throw invalid('a segment needs its plan key');
    const problems = priceProblems(s.price);
    if (problems.length > 0)
      throw new PricingError('INVALID_PRICE', `plan ${s.planKey}: ${problems.join('; ')}`);
    previousEnd = s.toDay;
  }
  const segments = input.segments.filter((s) => s.toDay > s.fromDay);
  if (segments.length === 0) throw invalid('no plan is in effect on any day of the period');
  const { currency, interval } = segments[0]!.price;
  for (const s of segments) {
    if (s.price.currency !== currency) throw invalid('every plan of a period must have the same currency');
    if (s.price.interval !== interval) throw invalid('every plan of a period must have the same interval');
  }
  const [min, max] = interval === 'month' ? [28, 31] : [365, 366];
  if (period.days < min || period.days > max) throw invalid(`a ${interval} period has ${min} to ${max} days`);
  return segments;
}

/**
 * The invoice of a period. Fixed fees (flat, per seat, the hybrid base fee) are charged for each plan's
 * days: fee × days / days in the period, rounded half up, per line. Usage is priced once, for the whole
 * period, by the usage components of the plan in effect at the end (the last segment). The total is the
 * sum of the rounded lines.
 */
export function priceInvoice(input: PricingInput): PricedInvoice {
  const segments = effectiveSegments(input);
  const { period } = input;
  const seats = wholeCount(input.seats, 'seats');
  const periodDays = BigInt(period.days);
  const lines: InvoiceLine[] = [];
  const push = (raw: RawLine, planKey: string, from: number, to: number) => {
    const line: InvoiceLine = {
      description: `${planKey}: ${raw.description}`,
      planKey,
      component: raw.component,
      quantity: safe(raw.quantity, 'a quantity'),
      amount: safe(raw.amount, 'a line amount'),
      periodStart: addDays(period.start, from),
      periodEnd: addDays(period.start, to),
    };
    if (raw.meter !== undefined) line.meter = raw.meter;
    if (raw.unitAmount !== undefined) line.unitAmount = safe(raw.unitAmount, 'a unit amount');
    lines.push(line);
  };

  for (const s of segments) {
    const days = s.toDay - s.fromDay;
    const suffix = days === period.days ? '' : ` (${days} of ${period.days} days)`;
    for (const c of s.price.components) {
      for (const raw of fixedLines(c, seats, { days: BigInt(days), periodDays }, suffix)) {
        push(raw, s.planKey, s.fromDay, s.toDay);
      }
    }
  }
  const last = segments[segments.length - 1]!;
  for (const c of last.price.components) {
    if (!isUsageComponent(c)) continue;
    const q = wholeCount(
      Object.hasOwn(input.usage, c.meter) ? input.usage[c.meter] : 0,
      `usage of ${c.meter}`,
    );
    for (const raw of usageLines(c, q)) push(raw, last.planKey, 0, period.days);
  }

  let subtotal = 0n;
  for (const l of lines) subtotal += BigInt(l.amount);
  const sum = safe(subtotal, 'the invoice total');
  return { currency: last.price.currency, lines, subtotal: sum, total: sum };
}
