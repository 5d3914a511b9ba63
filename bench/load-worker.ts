/**
 * Worker-thread side of bench/load.ts: runs autocannon jobs posted by the main thread, so the HTTP client
 * does not share the event loop of the server under test. Each job names a pool of prepared requests;
 * every request autocannon sends is drawn from it (at random, or in turn), via `setupRequest`.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './load.js';

/**
 * Inside a worker thread autocannon hands back its raw per-thread result (histograms still encoded, as
 * for its own workers); its exported `aggregateResult` (not in the typings) decodes it as the main
 * thread would.
 */
const aggregate = (
  autocannon as unknown as {
    aggregateResult: (results: unknown[], opts: autocannon.Options) => autocannon.Result;
  }
).aggregateResult;

async function run(job: LoadJob): Promise<LoadResult> {
  const pool = job.requests;
  if (pool.length === 0) throw new Error(`${job.name}: no requests to send`);
  let next = 0;
  const draw =
    job.pick === 'random'
      ? () => pool[Math.floor(Math.random() * pool.length)]!
      : () => pool[next++ % pool.length]!;
  const url = new URL(job.url);
  if (url.hostname !== '127.0.0.1') throw new Error(`${job.name}: loopback only (got ${url.hostname})`);
  const opts: autocannon.Options = {
    url: job.url,
    connections: job.connections,
    duration: job.seconds,
    timeout: 10,
    requests: [
      {
        setupRequest: (req) => {
          const spec = draw();
          return {
            ...req,
            method: spec.method,
            path: spec.path,
            headers: { ...spec.headers },
            ...(spec.body === undefined ? {} : { body: spec.body }),
          };
        },
      },
    ],
  };
  const r = aggregate([await autocannon(opts)], opts);
  const statusCodes: Record<string, number> = {};
  for (const [code, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = v.count ?? 0;
  const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    name: job.name,
    responses,
    ok: r['2xx'],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds: r.duration,
    rate: r['2xx'] / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    statusCodes,
  };
}

/** This thread's OS id (Linux), so the main thread can account for its CPU time separately. */
function osThreadId(): number | undefined {
  try {
    return Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  } catch {
    return undefined;
  }
}
parentPort!.postMessage({ tid: osThreadId() });

parentPort!.on('message', (msg: { id: number; job: LoadJob }) => {
  run(msg.job).then(
    (result) => parentPort!.postMessage({ id: msg.id, result }),
    (err: unknown) => parentPort!.postMessage({ id: msg.id, error: String(err) }),
  );
});
