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
 * exception); only a SIGKILL can lose the lines of the write in flight.
 */
export function createLogger(opts: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'saasready' },
      mixin: contextLogFields,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
