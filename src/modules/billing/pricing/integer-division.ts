/**
 * The only divisions on the money path: exact integer division of non-negative bigints with a stated
 * rounding. This file is the one place in `pricing/` where the `/` operator is allowed (eslint.config.js);
 * on bigints it truncates, so no fraction ever exists.
 */

function check(n: bigint, d: bigint): void {
  if (n < 0n || d <= 0n) throw new RangeError('integer division needs n >= 0 and d > 0');
}

/** n / d rounded to the nearest integer, halves up (2.5 → 3). */
export function divRoundHalfUp(n: bigint, d: bigint): bigint {
  check(n, d);
  const q = n / d;
  const r = n % d;
  return r * 2n >= d ? q + 1n : q;
}

/** n / d rounded up (any remainder starts one more). */
export function divCeil(n: bigint, d: bigint): bigint {
  check(n, d);
  const q = n / d;
  return n % d === 0n ? q : q + 1n;
}
