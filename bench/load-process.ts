/**
 * Child-process side of `forkLoadProcess` (bench/load.ts): receives one job, answers `armed` once the
 * request pool is in memory, starts on `go`, sends the result and exits. Keeping the load generator in
 * a process of its own keeps its CPU apart from the servers' and the orchestrator's.
 */
import type { LoadJob, LoadResult } from './load.js';
import { runAutocannon } from './autocannon-run.js';

type FromParent = { job: LoadJob } | { go: true };
type ToParent = { armed: true } | { result: LoadResult } | { error: string };

const send = (msg: ToParent) => process.send!(msg);
let job: LoadJob | undefined;

process.on('message', (msg: FromParent) => {
  if ('job' in msg) {
    job = msg.job;
    send({ armed: true });
    return;
  }
  if (!job) return send({ error: 'go before a job' });
  runAutocannon(job).then(
    (result) => send({ result }),
    (err: unknown) => send({ error: String(err) }),
  );
});
// The parent going away (it was stopped) takes this process with it.
process.on('disconnect', () => process.exit(0));
