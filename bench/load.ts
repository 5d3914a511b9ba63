/**
 * HTTP load generation for the benchmarks: autocannon (programmatic API) either in a worker thread of
 * this process (`startLoadGenerator`), so the client's own parsing and bookkeeping do not run on the
 * server's event loop, or in a child process of its own per run (`forkLoadProcess`), when the servers
 * are processes too and every consumer's CPU must be told apart.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** One request autocannon may send. */
export interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** A bounded autocannon run against a loopback server. */
export interface LoadJob {
  readonly name: string;
  /** Origin of the target, `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  /** Every request is drawn from `requests`: at random, or each in turn. */
  readonly pick: 'random' | 'cycle';
  readonly requests: readonly RequestSpec[];
}

/** What one run measured. `rate` counts 2xx responses only. */
export interface LoadResult {
  readonly name: string;
  readonly responses: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly seconds: number;
  readonly rate: number;
  /** Latency percentiles in ms. */
  readonly p50: number;
  readonly p99: number;
  readonly statusCodes: Record<string, number>;
}

export interface LoadGenerator {
  /** The load thread's OS thread id (Linux; undefined elsewhere), once it has started. */
  readonly threadId: Promise<number | undefined>;
  run(job: LoadJob): Promise<LoadResult>;
  close(): Promise<void>;
}

/** Starts the load worker (bench/load-worker.ts, loaded through tsx's ESM hooks). */
export function startLoadGenerator(): LoadGenerator {
  const entry = new URL('./load-worker.ts', import.meta.url).href;
  // Node 20 does not pass tsx's loader on to workers: register it in the worker, then load the entry.
  const boot = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(boot, { eval: true });
  const waiting = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let started: (tid: number | undefined) => void = () => undefined;
  const threadId = new Promise<number | undefined>((resolve) => (started = resolve));
  worker.on('message', (msg: { id: number; result?: LoadResult; error?: string } | { tid?: number }) => {
    if (!('id' in msg)) return started(msg.tid);
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.result) w.resolve(msg.result);
    else w.reject(new Error(msg.error ?? 'load worker failed'));
  });
  worker.on('error', (err) => {
    started(undefined);
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  });
  return {
    threadId,
    run(job) {
      const id = ++seq;
      return new Promise<LoadResult>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, job });
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}

/** A load process holding one job: `go()` runs it (once), `kill()` ends the process. */
export interface ArmedLoad {
  readonly pid: number;
  go(): Promise<LoadResult>;
  kill(): void;
}

/**
 * Forks bench/load-process.ts (through tsx, as `npm start` loads the app), hands it `job` and resolves
 * once the request pool is in memory: starting the clock after that keeps the process's start-up and the
 * transfer of the pool out of the measured interval. `track` is told of the child (to kill on exit).
 */
export function forkLoadProcess(job: LoadJob, track?: (child: ChildProcess) => void): Promise<ArmedLoad> {
  const entry = fileURLToPath(new URL('./load-process.ts', import.meta.url));
  const child = fork(entry, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  track?.(child);
  type Msg = { armed: true } | { result: LoadResult } | { error: string };
  const next = () =>
    new Promise<Msg>((resolve, reject) => {
      const onExit = (code: number | null) =>
        reject(new Error(`load process exited (${code}) during ${job.name}`));
      child.once('exit', onExit);
      child.once('message', (m: Msg) => {
        child.removeListener('exit', onExit);
        resolve(m);
      });
    });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const armed = next();
  child.send({ job });
  return armed.then(
    (m) => {
      if (!('armed' in m)) throw new Error(`load process: ${'error' in m ? m.error : 'unexpected answer'}`);
      return {
        pid: child.pid!,
        async go() {
          const done = next();
          child.send({ go: true });
          const r = await done;
          if ('result' in r) return r.result;
          throw new Error(`load process: ${'error' in r ? r.error : 'unexpected answer'}`);
        },
        kill,
      };
    },
    (err: unknown) => {
      kill();
      throw err;
    },
  );
}

/** `12,345` */
export const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Status codes other than 2xx, as `401×12 500×3`, or an empty string. */
export function non2xxSummary(r: LoadResult): string {
  return Object.entries(r.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${code}×${n}`)
    .join(' ');
}
