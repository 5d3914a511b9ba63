/**
 * Time ranges within the summary route's bounds (at most 1,440 minute, 744 hour or 366 day buckets) and
 * exact decimal arithmetic for usage values (strings with up to 12 decimals): sums are done on integers
 * of 10^-12, as the server does, never on floats.
 */
import type { Granularity } from '../api/getUsageSummary';

const STEP_MS: Record<Granularity, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The ranges offered per granularity: a label and a number of buckets (all within the route's bounds). */
export const RANGES: Record<Granularity, readonly { readonly label: string; readonly buckets: number }[]> = {
  minute: [
    { label: 'Last hour', buckets: 60 },
    { label: 'Last 6 hours', buckets: 360 },
    { label: 'Last 24 hours', buckets: 1440 },
  ],
  hour: [
    { label: 'Last 24 hours', buckets: 24 },
    { label: 'Last 7 days', buckets: 168 },
    { label: 'Last 31 days', buckets: 744 },
  ],
  day: [
    { label: 'Last 7 days', buckets: 7 },
    { label: 'Last 30 days', buckets: 30 },
    { label: 'Last 365 days', buckets: 365 },
  ],
};

/** The start of the UTC bucket `at` falls in. */
export function bucketStart(at: number, g: Granularity): number {
  return Math.floor(at / STEP_MS[g]) * STEP_MS[g];
}

/** `[from, to)` covering `buckets` buckets, the last one being the current (still filling) bucket. */
export function rangeEndingNow(g: Granularity, buckets: number, now = Date.now()) {
  const current = bucketStart(now, g);
  const from = current - (buckets - 1) * STEP_MS[g];
  return { from: new Date(from).toISOString(), to: new Date(current + STEP_MS[g]).toISOString() };
}

/** Every bucket start of `[from, to)`, in order (the summary answers only the buckets with usage). */
export function bucketStarts(from: string, to: string, g: Granularity): number[] {
  const out: number[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += STEP_MS[g]) out.push(t);
  return out;
}

/** The UTC calendar period of a quota containing `now`: its start and its reset (exclusive end). */
export function quotaPeriod(period: 'day' | 'month', now = new Date()) {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  const start = period === 'day' ? Date.UTC(y, m, d) : Date.UTC(y, m, 1);
  const reset = period === 'day' ? Date.UTC(y, m, d + 1) : Date.UTC(y, m + 1, 1);
  return { from: new Date(start).toISOString(), to: new Date(reset).toISOString() };
}

const SCALE = 12;

/** A usage value ("12.5", "-3", "0.000000000001") as an integer of 10^-12. */
export function toScaled(value: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d{1,12}))?$/.exec(value.trim());
  if (!m) return 0n;
  const [, sign, whole, frac = ''] = m;
  const n = BigInt(whole!) * 10n ** BigInt(SCALE) + BigInt(frac.padEnd(SCALE, '0') || '0');
  return sign ? -n : n;
}

/** An integer of 10^-12 back to its shortest decimal ("12.5"). */
export function fromScaled(n: bigint): string {
  const negative = n < 0n;
  const abs = (negative ? -n : n).toString().padStart(SCALE + 1, '0');
  const whole = abs.slice(0, abs.length - SCALE);
  const frac = abs.slice(abs.length - SCALE).replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** A decimal string with thousands separators ("12345.5" → "12,345.5"). */
export function formatDecimal(value: string): string {
  const [whole = '0', frac] = value.split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac ? `${grouped}.${frac}` : grouped;
}

/**
 * The usage of a period from its buckets, by the meter's aggregation: `count` and `sum` add up, `max`
 * takes the greatest, `latest` the last bucket's. `unique_count` cannot be combined exactly from
 * buckets (the same value may appear in several): the greatest bucket is a lower bound, marked as such.
 */
export function combine(
  aggregation: string,
  buckets: readonly { readonly start: string; readonly value: string }[],
): { value: bigint; lowerBound: boolean } {
  if (buckets.length === 0) return { value: 0n, lowerBound: false };
  const values = buckets.map((b) => toScaled(b.value));
  if (aggregation === 'count' || aggregation === 'sum') {
    return { value: values.reduce((a, b) => a + b, 0n), lowerBound: false };
  }
  if (aggregation === 'latest') {
    const last = [...buckets].sort((a, b) => Date.parse(a.start) - Date.parse(b.start)).pop()!;
    return { value: toScaled(last.value), lowerBound: false };
  }
  const max = values.reduce((a, b) => (b > a ? b : a));
  return { value: max, lowerBound: aggregation === 'unique_count' && buckets.length > 1 };
}

/** A bucket's start as the chart and the table label it. */
export function bucketLabel(t: number, g: Granularity): string {
  const d = new Date(t);
  if (g === 'day') {
    return d.toLocaleDateString('en-GB', {
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      timeZone: 'UTC',
    });
  }
  return d.toLocaleString('en-GB', {
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'UTC',
  });
}
