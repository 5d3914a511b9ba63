import pino, { type Logger } from 'pino';
import { contextLogFields } from './tenancy/context.js';

/** Paths never written to logs, whatever a handler passes. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.secret',
  '*.refreshToken',
  '*.accessToken',
  '*.code',
  '*.recoveryCodes',
  '*.otpauthUri',
  '*.qrSvg',
];

/**
 * The process logger: JSON lines, with `request_id`, `tenant_id` and `user_id` of the current request
 * context added to every line (read from AsyncLocalStorage, so nothing has to pass them along).
 * Without a destination it writes to stdout asynchronously: a write system call per line cost more than
 * the line itself on a busy server, and lines written while one write is in flight go out together.
 * pino flushes what is pending when the process exits (a normal exit, `process.exit` or an uncaught
 * exception); only a SIGKILL can lose the lines of the write in flight, and a stalled stdout the lines
 * beyond a bounded buffer (`logDestination`).
 */
export function createLogger(opts: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'saasready' },
      mixin: contextLogFields,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: isoTime,
    },
    opts.destination ?? logDestination(),
  );
}

/** The second `isoTimeAt` formatted last, as `,"time":"YYYY-MM-DDTHH:MM:SS.` (ISO 8601, UTC). */
let isoSecond = -1;
let isoPrefix = '';

/**
 * pino's `isoTime` (`,"time":"<Date#toISOString()>"`), the same text for every instant, built from a
 * prefix formatted once per second and the milliseconds: `toISOString` on a fresh `Date` cost about 2 µs
 * per line on this project's benchmark machine, more than the rest of an access line.
 */
export function isoTimeAt(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoPrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`;
    isoSecond = second;
  }
  const milli = ms - second * 1000;
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z"`;
}

/** pino's timestamp option: {@link isoTimeAt} of now. */
export const isoTime = (): string => isoTimeAt(Date.now());

/** What the asynchronous log destination may hold unwritten before it drops new lines. */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The asynchronous destination (stdout by default). Bounded: while stdout is stalled (a pipe nobody
 * reads, a blocked collector) lines accumulate in memory, so beyond `LOG_BUFFER_MAX_BYTES` new lines are
 * DROPPED (sonic-boom's `maxLength`, which emits `drop`) rather than growing the process without limit.
 * A full pipe (EAGAIN) is retried, in order: what waits meanwhile is what the bound limits.
 */
export function logDestination(dest: number | string = 1): pino.DestinationStream {
  return pino.destination({
    dest,
    sync: false,
    maxLength: LOG_BUFFER_MAX_BYTES,
    retryEAGAIN: () => true,
  });
}
