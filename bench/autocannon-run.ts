/**
 * One bounded autocannon run over a pool of prepared requests (each request drawn from the pool at
 * random, or in turn, via `setupRequest`), shared by the load worker thread (bench/load-worker.ts) and
 * the load process (bench/load-process.ts).
 */
import { isMainThread } from 'node:worker_threads';
import autocannon from 'autocannon';
import type { LoadJob, LoadResult } from './load.js';

/**
 * Inside a worker thread autocannon hands back its raw per-thread result (histograms still encoded, as
 * for its own workers); its exported `aggregateResult` (not in the typings) decodes it as the main
 * thread would. In a process's main thread the result is already aggregated.
 */
const aggregate = (
  autocannon as unknown as {
    aggregateResult: (results: unknown[], opts: autocannon.Options) => autocannon.Result;
  }
).aggregateResult;

export async function runAutocannon(job: LoadJob): Promise<LoadResult> {
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
  const raw = await autocannon(opts);
  const r = isMainThread ? raw : aggregate([raw], opts);
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
