import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from './app-type.js';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import { isDatabaseUnavailable, isTransientConflict } from '../db/pg-errors.js';
import type { OutageMonitor } from '../db/outage.js';

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/** One JSON error body for everything: `{ error: { code, message, details? } }`. */
export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: details ? { code, message, details } : { code, message } };
}

function fieldPath(context: string | undefined, issue: AjvIssue): string {
  let path = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const extra = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  if (extra) path = path ? `${path}.${extra}` : extra;
  return context ? (path ? `${context}.${path}` : context) : path;
}

const FASTIFY_CODES: Record<string, [number, string, string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE', 'request body is too large'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported content type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'BAD_REQUEST', 'invalid content length'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [
    400,
    'BAD_REQUEST',
    'body must not be empty when content-type is application/json',
  ],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'BAD_REQUEST', 'body is not valid JSON'],
  // Answered before routing (`frameworkErrors`).
  FST_ERR_BAD_URL: [400, 'BAD_REQUEST', 'the path is not valid percent-encoded UTF-8'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'URI_TOO_LONG', 'a path parameter is too long'],
  FST_ERR_ASYNC_CONSTRAINT: [500, 'INTERNAL', 'internal error'],
};

function isAppError(err: unknown): err is AppError<string> {
  return err instanceof AppError;
}

/** Seconds a client is told to wait when the database is unavailable. */
const DATABASE_RETRY_AFTER_SECONDS = 5;
/** Seconds a client is told to wait when its request lost a lock conflict with concurrent work. */
const CONFLICT_RETRY_AFTER_SECONDS = 1;

/** The SQLSTATE of a PostgreSQL error, for the log line (`code` itself is a redacted path). */
const sqlstateOf = (err: { code?: unknown }) =>
  typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;

/**
 * Maps every error to the JSON shape and status; unexpected errors are logged and answered as 500. A
 * database that cannot be reached answers 503 DATABASE_UNAVAILABLE with Retry-After, and the `outage`
 * monitor logs the outage once rather than once per request. A transaction PostgreSQL failed because of
 * concurrent work (deadlock, serialization failure, lock not available) answers 503 DATABASE_BUSY with
 * Retry-After.
 */
export function installErrorHandling(app: App, log: Logger, outage: OutageMonitor): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isAppError(err)) {
      // Every throttle (login, invitations, two-factor, API key rate limit) says when to come back the
      // same way: `details.retryAfterSeconds` becomes the Retry-After header, here and only here.
      const retry = err.details?.retryAfterSeconds;
      if (typeof retry === 'number') void reply.header('retry-after', String(retry));
      void reply.status(err.status).send(errorBody(err.code, err.message, err.details));
      return;
    }
    if (err.validation) {
      const issues = (err.validation as AjvIssue[]).map((i) => ({
        field: fieldPath(err.validationContext, i),
        message: i.message ?? 'is invalid',
      }));
      const first = issues[0];
      const message = first ? `${first.field} ${first.message}` : 'request is invalid';
      void reply.status(400).send(errorBody('VALIDATION_FAILED', message, { fields: issues }));
      return;
    }
    if (isDatabaseUnavailable(err)) {
      outage.report(err);
      void reply
        .header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS))
        .status(503)
        .send(errorBody('DATABASE_UNAVAILABLE', 'the database is unavailable; try again shortly'));
      return;
    }
    if (isTransientConflict(err)) {
      // PostgreSQL failed the request's transaction to break a deadlock, a serialization conflict or a lock
      // wait with concurrent work (another session's DDL, a row another request held): nothing of it was
      // kept, and the same request a moment later succeeds. Reads were already sent once more
      // (tenant-connection.ts); this is what is left, a condition of the moment, not a bug of the request.
      const url = request.routeOptions.url ?? request.url.split('?')[0];
      log.warn(
        { err, sqlstate: sqlstateOf(err), method: request.method, url },
        'transient database conflict',
      );
      void reply
        .header('retry-after', String(CONFLICT_RETRY_AFTER_SECONDS))
        .status(503)
        .send(errorBody('DATABASE_BUSY', 'the database could not complete the request now; try again'));
      return;
    }
    const known = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (known) {
      void reply.status(known[0]).send(errorBody(known[1], known[2]));
      return;
    }
    if (err instanceof SyntaxError || (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)) {
      void reply
        .status(err.statusCode ?? 400)
        .send(errorBody('BAD_REQUEST', 'request could not be processed'));
      return;
    }
    // The route pattern, never the query string: some carry a credential (`/v1/invitations/lookup?token=`).
    const url = request.routeOptions.url ?? request.url.split('?')[0];
    log.error({ err, sqlstate: sqlstateOf(err), method: request.method, url }, 'unhandled error');
    void reply.status(500).send(errorBody('INTERNAL', 'internal error'));
  });

  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(errorBody('ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}

/**
 * Fastify `frameworkErrors`: the errors it answers before a route is found (a path that is not valid
 * percent-encoding, a path parameter longer than `maxParamLength`), in the one error shape and with the
 * headers every response carries (no route hook runs for these).
 */
export function frameworkErrorHandler(
  applyHeaders: (req: IncomingMessage, res: ServerResponse) => void,
): (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => void {
  return (err, request, reply) => {
    applyHeaders(request.raw, reply.raw);
    const [status, code, message] = FASTIFY_CODES[err.code] ?? [400, 'BAD_REQUEST', 'bad request'];
    void reply.header('x-request-id', request.id).status(status).send(errorBody(code, message));
  };
}

/**
 * Node's `clientError` (a request that is not HTTP, headers too large, a request timeout): answered on the
 * socket in the one error shape, as Fastify's default handler would but with our body.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request took too long to arrive']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'request headers are too large']
        : [400, 'Bad Request', 'BAD_REQUEST', 'the request is not valid HTTP'];
  const body = JSON.stringify(errorBody(code, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * While the server drains (after `close()` began), requests arriving on kept-alive connections answer
 * 503 in the one error shape (Fastify's own `return503OnClosing` body is not), with `Connection: close`
 * and a Retry-After. Requests already in flight are not affected.
 */
export function installClosingAnswer(app: App): void {
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) {
      done();
      return;
    }
    void reply
      .header('connection', 'close')
      .header('retry-after', '5')
      .status(503)
      .send(errorBody('SERVICE_UNAVAILABLE', 'the server is shutting down'));
  });
}
