/**
 * Worker-thread side of bench/load.ts: runs autocannon jobs posted by the main thread, so the HTTP client
 * does not share the event loop of the server under test.
 */
import fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import type { LoadJob } from './load.js';
import { runAutocannon } from './autocannon-run.js';

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
  runAutocannon(msg.job).then(
    (result) => parentPort!.postMessage({ id: msg.id, result }),
    (err: unknown) => parentPort!.postMessage({ id: msg.id, error: String(err) }),
  );
});
