import type { PlacementRouter } from '../src/platform/tenancy/placement.js';
import type { TenantDatabase } from '../src/platform/tenancy/tenant-database.js';
import type { SeededKind } from './placement-seed.js';

/** Per-call latencies in nanoseconds, the timer's own cost already taken off. */
export interface CallTimes {
  readonly ns: Float64Array;
  /** What one `process.hrtime.bigint()` pair costs with nothing between (median), subtracted above. */
  readonly timerNs: number;
}

// A closure, not the bare method (lint: unbound method); V8 inlines it, and the timer cost is measured through it too.
const now = () => process.hrtime.bigint();

/** Value at quantile `p` of ascending `xs`. */
export function quantile(xs: ArrayLike<number>, p: number): number {
  return xs.length === 0 ? 0 : xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
}

/** The median cost of reading the clock twice, measured as the timed calls read it. */
export function timerCost(samples = 200_000): number {
  const ns = new Float64Array(samples);
  for (let i = 0; i < samples; i++) {
    const s = now();
    ns[i] = Number(now() - s);
  }
  ns.sort();
  return quantile(ns, 0.5);
}

/** Random indices into `n` items, drawn before any timing so the draw is not measured. */
export function randomOrder(n: number, length: number): Uint32Array {
  const order = new Uint32Array(length);
  for (let i = 0; i < length; i++) order[i] = Math.floor(Math.random() * n);
  return order;
}

/** A copy of `xs` in random order (Fisher-Yates). */
function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** What a target's key says about where the router sent the tenant (tenant-database.ts keys). */
function kindOf(target: TenantDatabase, databaseKey: string): SeededKind {
  if (target.key === 'control') return 'pooled';
  if (target.key.startsWith('schema:')) return 'schema';
  if (target.key === databaseKey) return 'database';
  throw new Error(`unexpected target ${target.key}`);
}

/** Throws unless every organization is routed where its seeded row says (no row: pooled). */
export function checkRouting(
  router: PlacementRouter,
  orgs: readonly { id: string; kind: SeededKind }[],
  databaseKey: string,
): void {
  for (const o of orgs) {
    const target = router.cached(o.id);
    if (target === undefined) throw new Error(`placement of ${o.id} not cached`);
    const want = o.kind === 'none' ? 'pooled' : o.kind;
    if (kindOf(target, databaseKey) !== want) throw new Error(`${o.id} routed to ${target.key}, not ${want}`);
  }
}

/**
 * The first request of each organization: `withTenant`'s own expression on an empty cache, `cached()`
 * missing and `resolve()` reading `tenant_placements` (one tenant-scoped round trip on a pooled
 * connection), one organization at a time in random order. Leaves every placement cached.
 */
export async function timeMisses(router: PlacementRouter, ids: readonly string[]): Promise<CallTimes> {
  const timerNs = timerCost();
  const order = shuffled(ids);
  const ns = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) {
    const id = order[i]!;
    const s = now();
    const target = router.cached(id) ?? (await router.resolve(id));
    ns[i] = Math.max(0, Number(now() - s) - timerNs);
    if (target === undefined) throw new Error('no placement');
  }
  ns.sort();
  return { ns, timerNs };
}

/**
 * `calls` warm-cache lookups, organizations drawn at random (so the Map's entries are not visited in
 * the order they were stored, and the CPU caches hold no particular organization): each call timed on
 * its own with `process.hrtime.bigint()`, the timer's cost (measured the same way, just before) taken
 * off. A lookup that misses fails the run: every figure is a hit.
 */
export function timeHits(router: PlacementRouter, ids: readonly string[], calls: number): CallTimes {
  const order = randomOrder(ids.length, calls);
  const timerNs = timerCost();
  const ns = new Float64Array(calls);
  let misses = 0;
  for (let i = 0; i < calls; i++) {
    const id = ids[order[i]!]!;
    const s = now();
    const target = router.cached(id);
    const e = now();
    ns[i] = Number(e - s) - timerNs;
    if (target === undefined) misses++;
  }
  if (misses > 0) throw new Error(`${misses} of ${calls} warm lookups missed the cache`);
  for (let i = 0; i < calls; i++) if (ns[i]! < 0) ns[i] = 0;
  ns.sort();
  return { ns, timerNs };
}

/**
 * Mean cost per warm lookup of a loop timed as a whole (no timer per call), a cross-check: wall time
 * and this process's CPU time. On a busy machine the wall figure also holds the time the process waited
 * for a core; the CPU figure does not.
 */
export function timeHitsInBulk(
  router: PlacementRouter,
  ids: readonly string[],
  calls: number,
): { wallNs: number; cpuNs: number } {
  const order = randomOrder(ids.length, calls);
  let found = 0;
  const cpu = process.cpuUsage();
  const s = now();
  for (let i = 0; i < calls; i++) if (router.cached(ids[order[i]!]!) !== undefined) found++;
  const wall = Number(now() - s);
  const used = process.cpuUsage(cpu);
  if (found !== calls) throw new Error('warm lookups missed the cache');
  return { wallNs: wall / calls, cpuNs: ((used.user + used.system) * 1000) / calls };
}

/** `p50 … µs  p99 … µs` of sorted nanoseconds. */
export function formatUs(t: CallTimes): string {
  const us = (p: number) => (quantile(t.ns, p) / 1000).toFixed(3).padStart(8);
  return `p50 ${us(0.5)} µs   p99 ${us(0.99)} µs   p99.9 ${us(0.999)} µs   (${t.ns.length} calls, timer ${(t.timerNs / 1000).toFixed(3)} µs taken off)`;
}
