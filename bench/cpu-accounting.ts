/**
 * Where the machine's CPU went while a benchmark ran, from /proc (Linux; elsewhere every figure is 0):
 * this process's main thread (the server under test), the load generator's thread, the process's other
 * threads (libuv pool: argon2 and WebCrypto jobs; V8 GC and compiler helpers), its child processes (the
 * embedded PostgreSQL), and every other process on the machine. On a shared 2-core machine this tells a
 * round that overlapped someone else's work from a real regression, and splits the cost of a request.
 * `startConsumerAccounting` does the same for benchmarks whose parts run in processes of their own.
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU time (seconds) per consumer over an interval. */
export interface CpuSplit {
  readonly seconds: number;
  readonly mainThread: number;
  readonly loadThread: number;
  readonly otherThreads: number;
  readonly postgres: number;
  readonly foreign: number;
}

/** utime + stime (ticks) of a /proc stat line, and its parent pid. */
function parseStat(raw: string): { ppid: number; ticks: number } {
  // Fields after the parenthesized command: state(3) ppid(4) ... utime(14) stime(15).
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

function read(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return undefined; // gone in between, or not Linux
  }
}

interface Snapshot {
  readonly at: number;
  readonly threads: Map<number, number>;
  readonly children: Map<number, number>;
  readonly foreign: Map<number, number>;
}

function snapshot(): Snapshot {
  const at = performance.now();
  const threads = new Map<number, number>();
  const children = new Map<number, number>();
  const foreign = new Map<number, number>();
  let pids: string[] = [];
  let tids: string[] = [];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    tids = fs.readdirSync(`/proc/${process.pid}/task`);
  } catch {
    return { at, threads, children, foreign };
  }
  for (const tid of tids) {
    const raw = read(`/proc/${process.pid}/task/${tid}/stat`);
    if (raw) threads.set(Number(tid), parseStat(raw).ticks);
  }
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const pid of pids) {
    const raw = read(`/proc/${pid}/stat`);
    if (raw) stats.set(Number(pid), parseStat(raw));
  }
  const kids = new Map<number, number[]>();
  for (const [pid, s] of stats) kids.set(s.ppid, [...(kids.get(s.ppid) ?? []), pid]);
  const ours = new Set<number>([process.pid]);
  const stack = [...(kids.get(process.pid) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (ours.has(pid)) continue;
    ours.add(pid);
    children.set(pid, stats.get(pid)!.ticks);
    stack.push(...(kids.get(pid) ?? []));
  }
  for (const [pid, s] of stats) if (!ours.has(pid)) foreign.set(pid, s.ticks);
  return { at, threads, children, foreign };
}

/** Sum of the growth of each entry (a process or thread that started meanwhile counts from zero). */
function grown(before: Map<number, number>, after: Map<number, number>, only?: (id: number) => boolean) {
  let ticks = 0;
  for (const [id, t] of after) if (!only || only(id)) ticks += Math.max(0, t - (before.get(id) ?? 0));
  return ticks / TICKS_PER_SECOND;
}

/** Starts an interval; `stop()` splits the CPU time used since. `loadThreadId` is the load worker's tid. */
export function startCpuAccounting(loadThreadId: number | undefined): { stop(): CpuSplit } {
  const before = snapshot();
  return {
    stop() {
      const after = snapshot();
      return {
        seconds: (after.at - before.at) / 1000,
        mainThread: grown(before.threads, after.threads, (tid) => tid === process.pid),
        loadThread: grown(before.threads, after.threads, (tid) => tid === loadThreadId),
        otherThreads: grown(
          before.threads,
          after.threads,
          (tid) => tid !== process.pid && tid !== loadThreadId,
        ),
        postgres: grown(before.children, after.children),
        foreign: grown(before.foreign, after.foreign),
      };
    },
  };
}

/** Adds up splits (e.g. the rounds of one target). */
export function sumSplits(splits: readonly CpuSplit[]): CpuSplit {
  const z = { seconds: 0, mainThread: 0, loadThread: 0, otherThreads: 0, postgres: 0, foreign: 0 };
  for (const s of splits) for (const k of Object.keys(z) as (keyof CpuSplit)[]) z[k] += s[k];
  return z;
}

/** CPU time (seconds) per named consumer over an interval, for benchmarks whose parts are processes. */
export interface ConsumerSplit {
  readonly seconds: number;
  /** Keyed by consumer name, plus `harness` (this process), `postgres` and `foreign`. */
  readonly cpu: Readonly<Record<string, number>>;
}

interface ProcessStat {
  readonly ppid: number;
  readonly ticks: number;
  /** The executable's name (`postgres`, `node`, `esbuild`…). */
  readonly comm: string;
}

interface ProcessSnapshot {
  readonly at: number;
  readonly procs: Map<number, ProcessStat>;
}

function processSnapshot(): ProcessSnapshot {
  const at = performance.now();
  const procs = new Map<number, ProcessStat>();
  let pids: string[] = [];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return { at, procs };
  }
  for (const pid of pids) {
    const raw = read(`/proc/${pid}/stat`);
    if (raw)
      procs.set(Number(pid), {
        ...parseStat(raw),
        comm: raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')')),
      });
  }
  return { at, procs };
}

/**
 * Starts an interval over whole processes (each process's figure includes all its threads). `consumers`
 * names processes (e.g. `app: [pid]`), and their descendants count with them (a helper process such as
 * esbuild's service). Among this process's other descendants, `postgres` processes (an embedded cluster)
 * are PostgreSQL and the rest count as `harness`, with this process. For a server that is not ours, the
 * backends whose process title names `postgresDatabase` are PostgreSQL too; everything else is
 * `foreign`. CPU of a process that ended in between is lost.
 */
export function startConsumerAccounting(opts: {
  consumers: Readonly<Record<string, readonly number[]>>;
  postgresDatabase?: string;
}): { stop(): ConsumerSplit } {
  const before = processSnapshot();
  const named = new Map<number, string>();
  for (const [name, pids] of Object.entries(opts.consumers)) for (const pid of pids) named.set(pid, name);
  return {
    stop() {
      const after = processSnapshot();
      const title = opts.postgresDatabase ? ` ${opts.postgresDatabase} ` : undefined;
      const isBackend = (pid: number) =>
        title !== undefined && (read(`/proc/${pid}/cmdline`) ?? '').replace(/\0/g, ' ').includes(title);
      /** The consumer of `pid`: its own or nearest named ancestor's name, else by where it sits. */
      const consumerOf = (pid: number): string => {
        const own = after.procs.get(pid)!;
        for (let cur: number | undefined = pid, hops = 0; cur !== undefined && cur > 1 && hops < 64; hops++) {
          const name = named.get(cur);
          if (name) return name;
          if (cur === process.pid) return own.comm === 'postgres' ? 'postgres' : 'harness';
          cur = after.procs.get(cur)?.ppid;
        }
        return isBackend(pid) ? 'postgres' : 'foreign';
      };
      const cpu: Record<string, number> = { harness: 0, postgres: 0, foreign: 0 };
      for (const name of Object.keys(opts.consumers)) cpu[name] = 0;
      for (const [pid, s] of after.procs) {
        const ticks = Math.max(0, s.ticks - (before.procs.get(pid)?.ticks ?? 0));
        if (ticks === 0) continue;
        const consumer = consumerOf(pid);
        cpu[consumer] = (cpu[consumer] ?? 0) + ticks / TICKS_PER_SECOND;
      }
      return { seconds: (after.at - before.at) / 1000, cpu };
    },
  };
}

/** Adds up consumer splits (e.g. the rounds of one target). */
export function sumConsumerSplits(splits: readonly ConsumerSplit[]): ConsumerSplit {
  const cpu: Record<string, number> = {};
  let seconds = 0;
  for (const s of splits) {
    seconds += s.seconds;
    for (const [k, v] of Object.entries(s.cpu)) cpu[k] = (cpu[k] ?? 0) + v;
  }
  return { seconds, cpu };
}
