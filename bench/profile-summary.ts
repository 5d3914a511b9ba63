/**
 * Summarizes a `.cpuprofile` written by `node --cpu-prof`: where the busy (non-idle) samples go, by
 * self time per function and per module group (npm package, first-party folder, node internals), and
 * inclusive time for functions matching a pattern. A window (CLOCK_MONOTONIC µs, the clock of V8's
 * sample timestamps and of `process.hrtime` on Linux) keeps only the samples of a measured interval,
 * leaving out start-up and shutdown.
 * Usage: npx tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [inclusive-regex] [from-to]
 * (`from-to`: the window in µs, as `npm run bench` prints it when run under `--cpu-prof`; several windows
 * separated by commas, as `bench/audit-append.ts` prints them).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, 'node_modules/')
    .replace(ROOT, '');
/** A module group: an npm package, a first-party folder, or node internals. */
const group = (url: string): string => {
  if (!url) return '(native/VM)';
  const u = shortUrl(url);
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (pkg) return pkg[1]!;
  if (u.startsWith('node:')) return u.split('/').slice(0, 2).join('/');
  const first = /^(src\/(?:platform\/[^/]+|modules\/[^/]+|app)|bench|test)/.exec(u);
  return first ? first[1]! : u;
};
const frameKey = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'}  ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

/** Lines of a summary of `file`: self time by module group and by function, optionally inclusive time. */
export function summarizeProfile(
  file: string,
  opts: {
    top?: number;
    inclusive?: string;
    window?: { fromUs: number; toUs: number } | readonly { fromUs: number; toUs: number }[];
  } = {},
): string[] {
  const top = opts.top ?? 25;
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Sample weights in µs, within the window(s) if given.
  const windows =
    opts.window === undefined ? undefined : 'fromUs' in opts.window ? [opts.window] : opts.window;
  const weight = new Map<number, number>();
  let at = prof.startTime;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    at += dt;
    if (windows && !windows.some((w) => at >= w.fromUs && at <= w.toUs)) return;
    weight.set(id, (weight.get(id) ?? 0) + dt);
  });
  const total = windows
    ? windows.reduce(
        (sum, w) => sum + Math.max(0, Math.min(prof.endTime, w.toUs) - Math.max(prof.startTime, w.fromUs)),
        0,
      )
    : prof.endTime - prof.startTime;
  let idle = 0;
  let busy = 0;
  const self = new Map<string, number>();
  const groups = new Map<string, number>();
  for (const [id, w] of weight) {
    const n = byId.get(id)!;
    const name = n.callFrame.functionName;
    if (name === '(idle)') {
      idle += w;
      continue;
    }
    busy += w;
    self.set(frameKey(n), (self.get(frameKey(n)) ?? 0) + w);
    const g = ['(garbage collector)', '(program)'].includes(name) ? name : group(n.callFrame.url);
    groups.set(g, (groups.get(g) ?? 0) + w);
  }
  const pct = (w: number) => `${((100 * w) / Math.max(busy, 1)).toFixed(1).padStart(5)}%`;
  const ms = (w: number) => `${(w / 1000).toFixed(0).padStart(7)} ms`;
  const out: string[] = [];
  out.push(
    `${file}${opts.window ? ' (measured interval only)' : ''}`,
    `  wall ${ms(total)}, busy ${ms(busy)} (${((100 * busy) / Math.max(total, 1)).toFixed(1)}% of wall), idle ${ms(idle)}`,
    '',
    '  self time by module group (% of busy):',
  );
  for (const [g, w] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, top))
    out.push(`  ${pct(w)} ${ms(w)}  ${g}`);
  out.push('', '  self time by function (% of busy):');
  for (const [k, w] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
    out.push(`  ${pct(w)} ${ms(w)}  ${k}`);

  if (opts.inclusive) {
    const re = new RegExp(opts.inclusive);
    const inclusive = new Map<string, number>();
    for (const [id, w] of weight) {
      if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const k = frameKey(byId.get(cur)!);
        if (re.test(k) && !seen.has(k)) {
          seen.add(k);
          inclusive.set(k, (inclusive.get(k) ?? 0) + w);
        }
      }
    }
    out.push('', `  inclusive time of frames matching /${opts.inclusive}/ (% of busy):`);
    for (const [k, w] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top))
      out.push(`  ${pct(w)} ${ms(w)}  ${k}`);
  }
  return out;
}

// Run as a script (not when imported by bench/http-read.ts).
if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  const [file, topArg, inclusiveArg, windowArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary <file.cpuprofile> [top] [inclusive-regex] [from-to]');
  // One window `from-to`, or several separated by commas.
  const window = windowArg
    ?.split(',')
    .map((w) => w.split('-').map(Number))
    .filter((b) => b.length === 2)
    .map(([fromUs, toUs]) => ({ fromUs: fromUs!, toUs: toUs! }));
  const opts = {
    top: Number(topArg ?? 25),
    inclusive: inclusiveArg || undefined,
    window: window?.length ? window : undefined,
  };
  for (const line of summarizeProfile(file, opts)) console.log(line);
}
