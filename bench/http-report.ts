/**
 * The report of bench/http-read.ts: per target, the median rate and latency over the rounds, the ratio
 * to both bare routes, and CPU time per 2xx response by consumer (the target's server process,
 * PostgreSQL, the load generator, the orchestrator, the other server processes while idle, and the rest
 * of the machine), which is what tells where time goes when the machine is shared.
 */
import { sumConsumerSplits, type ConsumerSplit } from './cpu-accounting.js';
import { median } from './harness.js';
import { fmtInt, non2xxSummary, type LoadResult } from './load.js';
import type { Target } from './http-targets.js';

export type Measured = LoadResult & { cpu: ConsumerSplit };
export type Round = Record<string, Measured>;

/** Issue 10's goal: an authenticated read at >= 0.70 of the bare unnamed-statement route. */
const TARGET_RATIO = 0.7;
const SERVERS = ['bare', 'app', 'app-silent-log', 'app-noauth', 'app-compare'];

export const foreignCores = (m: Measured) => (m.cpu.cpu.foreign ?? 0) / m.cpu.seconds;

/** Prints the report; returns the number of non-2xx responses and errors in `rounds` and `warm`. */
export function printReport(opts: {
  targets: readonly Target[];
  rounds: readonly Round[];
  /** The rounds the medians use (the quiet ones, when there are enough). */
  used: readonly Round[];
  warm: readonly Measured[];
  quiet: (round: Round) => boolean;
}): number {
  const { targets, rounds, used, quiet } = opts;
  const stats = new Map<string, { rate: number; p50: number; p99: number; cpu: ConsumerSplit; ok: number }>();
  for (const t of targets) {
    const rs = used.map((r) => r[t.name]!);
    stats.set(t.name, {
      rate: median(rs.map((r) => r.rate)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      cpu: sumConsumerSplits(rs.map((r) => r.cpu)),
      ok: rs.reduce((a, r) => a + r.ok, 0),
    });
  }
  /** µs of CPU per 2xx response of `name`, spent by `consumer`. */
  const us = (name: string, consumer: string) => {
    const s = stats.get(name)!;
    return ((s.cpu.cpu[consumer] ?? 0) * 1e6) / Math.max(s.ok, 1);
  };
  const serverAndDb = (t: Target) => us(t.name, t.server) + us(t.name, 'postgres');
  const ratio = (name: string, base: string) =>
    stats.has(base) ? (stats.get(name)!.rate / stats.get(base)!.rate).toFixed(3) : '  -  ';
  const bare = targets.find((t) => t.name === 'bare-unnamed');

  console.log(
    '  target               req/s  /unnamed /prepared   p50 ms   p99 ms  cpu-ratio  rounds: req/s [foreign cores], * = noisy',
  );
  let bad = 0;
  for (const t of targets) {
    const s = stats.get(t.name)!;
    const all = rounds.map((r) => r[t.name]!);
    const perRound = rounds
      .map(
        (round) =>
          `${fmtInt(round[t.name]!.rate)} [${foreignCores(round[t.name]!).toFixed(2)}]${quiet(round) ? '' : '*'}`,
      )
      .join(' / ');
    // What the rate ratio would be if server + PostgreSQL CPU were the only limit (a busy machine's view).
    const cpuRatio = bare ? (serverAndDb(bare) / serverAndDb(t)).toFixed(3) : '  -  ';
    console.log(
      `  ${t.name.padEnd(18)} ${fmtInt(s.rate).padStart(7)}  ${ratio(t.name, 'bare-unnamed').padStart(8)} ${ratio(t.name, 'bare-prepared').padStart(9)}` +
        `  ${s.p50.toFixed(1).padStart(7)}  ${s.p99.toFixed(1).padStart(7)}  ${cpuRatio.padStart(9)}  ${perRound}`,
    );
    const non2xx = all.reduce((a, r) => a + r.non2xx, 0);
    const errors = all.reduce((a, r) => a + r.errors + r.timeouts, 0);
    if (non2xx + errors > 0) {
      const codes = all.map(non2xxSummary).filter(Boolean).join(' ');
      console.log(`    ${t.name}: non-2xx ${non2xx}${codes ? ` [${codes}]` : ''}, errors ${errors}`);
    }
    bad += non2xx + errors;
  }

  if (bare)
    console.log(
      "  cpu-ratio: bare-unnamed server + PostgreSQL CPU per response over the target's, the rate ratio a CPU-bound machine would show",
    );
  console.log('  CPU µs per 2xx response, by process (from /proc, over the rounds the medians use):');
  for (const t of targets) {
    const idleServers = SERVERS.filter((s) => s !== t.server).reduce((a, s) => a + us(t.name, s), 0);
    const s = stats.get(t.name)!;
    console.log(
      `  ${t.name.padEnd(18)} ${serverAndDb(t).toFixed(0).padStart(5)} = ${t.server} ${us(t.name, t.server).toFixed(0)}` +
        ` + PostgreSQL ${us(t.name, 'postgres').toFixed(0)}   (load generator ${us(t.name, 'load').toFixed(0)},` +
        ` orchestrator ${us(t.name, 'harness').toFixed(0)}, idle servers ${idleServers.toFixed(0)};` +
        ` other processes ${((s.cpu.cpu.foreign ?? 0) / s.cpu.seconds).toFixed(2)} cores)`,
    );
  }
  if (bare) {
    for (const t of targets.filter((x) => x.server !== 'bare' && x.name !== 'app-noauth')) {
      const r = stats.get(t.name)!.rate / stats.get(bare.name)!.rate;
      console.log(
        `  ratio ${t.name.padEnd(18)}/bare-unnamed = ${r.toFixed(3)}  (goal >= ${TARGET_RATIO.toFixed(2)}: ${r >= TARGET_RATIO ? 'met' : 'MISSED'})`,
      );
    }
  }
  const warmBad = opts.warm.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0);
  if (warmBad > 0)
    console.log(`  warm-up: ${warmBad} non-2xx/errors (${opts.warm.map(non2xxSummary).join(' ')})`);
  return bad + warmBad;
}
