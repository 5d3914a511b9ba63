import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { AddressPolicy } from './address-policy.js';

/** What one POST gave: an HTTP answer (any status), or an error before or instead of one. */
export type SendOutcome =
  | { kind: 'response'; status: number; body: string; durationMs: number }
  | { kind: 'error'; error: string; durationMs: number };

export interface SendOptions {
  readonly policy: AddressPolicy;
  /** The whole exchange, connection to last byte (WEBHOOK_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** How much of the response body is read (the rest is discarded; the connection is closed). */
  readonly maxResponseBytes: number;
}

/** Refused by the address policy (SSRF): never retried into success by DNS games, always logged as such. */
export class AddressRefusedError extends Error {
  override name = 'AddressRefusedError';
}

/**
 * A `lookup` for the sockets of webhook requests: resolves the name and refuses the connection if ANY
 * address it resolves to is refused by the policy. It runs when the socket connects, on the addresses
 * the socket will use, so a name that resolved to a public address when the endpoint was saved and to a
 * private one now (DNS rebinding) is refused. The error does not say which address was refused.
 */
export function guardedLookup(policy: AddressPolicy): LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    withLookupSlot((release) => {
      try {
        dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
          release();
          answerLookup(hostname, options, policy, callback, err, addresses);
        });
      } catch (err) {
        release();
        callback(err);
      }
    });
  }) as LookupFunction;
}

/**
 * At most this many webhook name lookups at once. `dns.lookup` (getaddrinfo) holds one of libuv's 4
 * threadpool threads until the resolver answers, and an organization controls its endpoint's name, so its
 * slow authoritative server could hold them all: every file read and password hash of the process (every
 * tenant's logins) would wait. Two slots leave the other threads free.
 */
export const MAX_CONCURRENT_LOOKUPS = 2;
let lookupsRunning = 0;
const lookupsWaiting: (() => void)[] = [];

function withLookupSlot(run: (release: () => void) => void): void {
  const start = () => {
    lookupsRunning++;
    let released = false;
    run(() => {
      if (released) return;
      released = true;
      lookupsRunning--;
      lookupsWaiting.shift()?.();
    });
  };
  if (lookupsRunning < MAX_CONCURRENT_LOOKUPS) start();
  else lookupsWaiting.push(start);
}

function answerLookup(
  hostname: string,
  options: dns.LookupOptions,
  policy: AddressPolicy,
  callback: (...args: unknown[]) => void,
  err: NodeJS.ErrnoException | null,
  addresses: dns.LookupAddress[],
): void {
  if (err) return callback(err);
  const list = addresses;
  if (list.length === 0) return callback(new Error(`${hostname} has no address`));
  // The message goes to the organization's delivery log: it names the host the organization typed
  // but never the address it resolved to (that would map the platform's internal DNS for any tenant).
  if (list.some((a) => policy.refusal(a.address) !== null)) {
    return callback(new AddressRefusedError(`${hostname} resolves to a private or reserved address`));
  }
  if (options.all) return callback(null, list);
  return callback(null, list[0]!.address, list[0]!.family);
}

/**
 * POSTs `body` to `url` with `headers`: redirects are not followed (a 3xx is an answer like any other),
 * the address is checked at connect time ({@link guardedLookup}; an IP literal host is checked here,
 * since no lookup runs for it), one fresh connection per request (no pooled socket outlives a check),
 * the whole exchange bounded by `timeoutMs` and the body read up to `maxResponseBytes`.
 */
export function postJson(
  url: URL,
  headers: Record<string, string>,
  body: string,
  opts: SendOptions,
): Promise<SendOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) !== 0) {
    const why = opts.policy.refusal(literal);
    if (why) return Promise.resolve({ kind: 'error', error: `refused: ${why}`, durationMs: 0 });
  }
  const lib = url.protocol === 'https:' ? https : http;
  const agent =
    url.protocol === 'https:'
      ? new https.Agent({ keepAlive: false, lookup: guardedLookup(opts.policy) })
      : new http.Agent({ keepAlive: false, lookup: guardedLookup(opts.policy) });
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome: SendOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      agent.destroy();
      resolve(outcome);
    };
    const req = lib.request(url, {
      method: 'POST',
      agent,
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'SaaSReady-Webhooks/1',
      },
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no complete answer within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    req.on('error', (err) => {
      const refused = err instanceof AddressRefusedError;
      finish({
        kind: 'error',
        error: refused ? `refused: ${err.message}` : err.message,
        durationMs: elapsed(),
      });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = () =>
        finish({
          kind: 'response',
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          durationMs: elapsed(),
        });
      res.on('data', (chunk: Buffer) => {
        if (size >= opts.maxResponseBytes) return;
        chunks.push(chunk.subarray(0, opts.maxResponseBytes - size));
        size += chunk.length;
        if (size >= opts.maxResponseBytes) {
          answer();
          res.destroy();
        }
      });
      res.on('end', answer);
      res.on('error', answer);
    });
    req.end(body);
  });
}
