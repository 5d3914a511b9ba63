import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

/** The first lines of `postmaster.pid`: the postmaster's pid and the data directory it serves. */
interface LockFile {
  readonly pid: number;
  readonly dataDir: string;
}

function readLockFile(file: string): LockFile | undefined {
  if (!existsSync(file)) return undefined;
  const [pid, dataDir] = readFileSync(file, 'utf8').split('\n');
  const n = Number(pid);
  return Number.isSafeInteger(n) && n > 0 ? { pid: n, dataDir: dataDir ?? '' } : undefined;
}

/** `/proc/<pid>/stat` fields after the command name (state is the first), when /proc exists. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie, exited but not yet reaped by its new parent, does not count). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procStat(pid)?.[0] !== 'Z';
}

function ps(pid: number, field: 'command' | 'ppid'): string | undefined {
  try {
    return (
      execFileSync('ps', ['-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8' }).trim() || undefined
    );
  } catch {
    return undefined;
  }
}

/** The process's arguments (Linux: /proc; elsewhere `ps`). */
function argv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return (ps(pid, 'command') ?? '').split(/\s+/);
  }
}

function parentPid(pid: number): number | undefined {
  const ppid = Number(procStat(pid)?.[1] ?? ps(pid, 'ppid'));
  return Number.isSafeInteger(ppid) && ppid > 0 ? ppid : undefined;
}

/** True when `pid` is a `postgres` serving `dir` (its `-D` argument). */
function isPostmasterOf(pid: number, dir: string): boolean {
  const args = argv(pid);
  const d = args.indexOf('-D');
  return (
    d > 0 &&
    path.basename(args[0] ?? '') === 'postgres' &&
    path.resolve(args[d + 1] ?? '') === path.resolve(dir)
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What {@link releaseLeftoverPostmaster} found and did. */
export type LeftoverOutcome = 'none' | 'dead' | 'stale' | 'stopped';

/**
 * Makes the data directory startable after a previous run ended without stopping its cluster: a server
 * killed with `kill -9` leaves its PostgreSQL running (an orphan still holding `dir`), and every later
 * start failed on `postmaster.pid`.
 * - no lock file, or one naming a process that no longer runs: nothing to do (PostgreSQL itself
 *   replaces a stale lock file of a dead process);
 * - a live process that is not a postgres serving `dir` (the pid was reused, e.g. after a reboot): the
 *   lock file is stale and removed;
 * - a postgres serving `dir` whose parent is another live Node process: that server is running, and
 *   this start is refused (two servers on one data directory);
 * - a postgres serving `dir` that lost its server: ours, left over; asked for a fast shutdown (SIGINT)
 *   and waited for (then SIGQUIT, an immediate shutdown, if it does not stop within `timeoutMs`).
 */
export async function releaseLeftoverPostmaster(
  dir: string,
  log: (line: string) => void,
  timeoutMs = 30_000,
): Promise<LeftoverOutcome> {
  const file = path.join(dir, 'postmaster.pid');
  const lock = readLockFile(file);
  if (!lock || !isRunning(lock.pid)) return lock ? 'dead' : 'none';
  if (!isPostmasterOf(lock.pid, dir)) {
    log(`removing a stale ${file}: process ${lock.pid} is not a PostgreSQL serving this directory`);
    rmSync(file, { force: true });
    return 'stale';
  }
  const parent = parentPid(lock.pid);
  if (parent !== undefined && parent !== process.pid && isRunning(parent)) {
    const parentArgv = argv(parent);
    if (/(^|\/)node(js)?$/.test(parentArgv[0] ?? '')) {
      throw new Error(
        `the embedded PostgreSQL in ${dir} (pid ${lock.pid}) belongs to another running server (pid ${parent}); stop it first`,
      );
    }
  }
  log(`stopping the PostgreSQL (pid ${lock.pid}) a previous run left running in ${dir}`);
  const gone = () => !isRunning(lock.pid) || !existsSync(file);
  for (const [signal, wait] of [
    ['SIGINT', timeoutMs],
    ['SIGQUIT', 5000],
  ] as const) {
    try {
      process.kill(lock.pid, signal);
    } catch {
      // it exited in the meantime
    }
    const deadline = Date.now() + wait;
    while (!gone() && Date.now() < deadline) await sleep(100);
    if (gone()) {
      // Its lock file is removed in its last moments: let it finish exiting (and free the port).
      const until = Date.now() + 2000;
      while (isRunning(lock.pid) && Date.now() < until) await sleep(50);
      return 'stopped';
    }
  }
  throw new Error(`the PostgreSQL a previous run left in ${dir} (pid ${lock.pid}) does not stop`);
}
