import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { createOutageMonitor } from '../db/outage.js';
import { currentContext, logFieldsOf, type RequestContext } from '../tenancy/context.js';
import { installAuth, type Authenticator } from './auth.js';
import {
  clientErrorHandler,
  frameworkErrorHandler,
  installClosingAnswer,
  installErrorHandling,
} from './error-handler.js';
import { installJsonBodyParser } from './json-body.js';
import { registerOpenApi } from './openapi.js';
import { installSecurityHeaders, type SecurityHeaderOptions } from './security-headers.js';
import { validatorCompiler } from './validator.js';

import type { App } from './app-type.js';

export type { App };

export interface HttpServerOptions {
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly trustProxy: false | string[];
  readonly authenticator: Authenticator;
  readonly version: string;
  /** Answers when the database is reachable again (`select 1`): ends a logged outage. */
  readonly databaseProbe?: () => Promise<unknown>;
  /** Security headers (HSTS only for an https site); default: no HSTS. */
  readonly securityHeaders?: SecurityHeaderOptions;
  /** The public URL the API is served at (the OpenAPI document's `servers`). */
  readonly publicUrl?: string;
  /**
   * Rewrites an incoming URL before routing (Fastify `rewriteUrl`), e.g. the tenant-resolution module's
   * `/v1/orgs/:slug/<rest>` → `/v1/<rest>`.
   */
  readonly rewriteUrl?: (req: IncomingMessage) => string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * The Fastify instance with everything every route relies on: request ids (an incoming well-formed
 * `X-Request-Id` is kept), the request context, the auth guard, JSON errors, the body limit, OpenAPI at
 * `/openapi.json` and docs at `/docs`, and one access-log line per request.
 */
export async function createHttpServer(opts: HttpServerOptions): Promise<App> {
  const loggerInstance: FastifyBaseLogger = opts.log;
  let applyHeaders: (req: IncomingMessage, res: ServerResponse) => void = () => {};
  const onFrameworkError = frameworkErrorHandler((req, res) => applyHeaders(req, res));
  const app = Fastify({
    loggerInstance,
    // One access line per request is written by the onResponse hook below, with the request context.
    logController: new LogController({ disableRequestLogging: true }),
    // `request.log` is the process logger itself: no pino child per request. The request id, tenant and
    // actor reach every line through the logger's mixin (the request context), as the child's binding did.
    childLoggerFactory: (logger) => logger,
    bodyLimit: opts.bodyLimitBytes,
    trustProxy: opts.trustProxy === false ? false : opts.trustProxy,
    // Our own 503 while draining (installClosingAnswer), in the one error shape.
    return503OnClosing: false,
    frameworkErrors: (err, request, reply) => onFrameworkError(err, request, reply),
    clientErrorHandler,
    ...(opts.rewriteUrl ? { rewriteUrl: opts.rewriteUrl } : {}),
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  installJsonBodyParser(app);

  const outage = createOutageMonitor({ log: opts.log, probe: opts.databaseProbe });
  app.addHook('onClose', (_instance, done) => {
    outage.close();
    done();
  });
  installErrorHandling(app, opts.log, outage);
  installAuth(app, opts.authenticator);
  applyHeaders = installSecurityHeaders(app, opts.securityHeaders ?? { hsts: false });
  installClosingAnswer(app);

  // The access line holds only fixed scalar fields (method, route pattern or path, status, duration) and
  // the context fields of the mixin: no redaction path can match one, so its logger skips the redaction
  // pass, which cost as much as the rest of the line. Every other line keeps the process logger's.
  // On the request under a private symbol: a WeakMap entry per request costs the garbage collector more.
  const CONTEXT = Symbol('access-log.context');
  type ContextSlot = { [CONTEXT]?: RequestContext };
  const accessLog = opts.log.child({}, { redact: { paths: [], censor: '[redacted]' } });
  // Callback-style hooks: they run on every request, and an async hook costs a promise each time.
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    // Runs after the auth hook opened this request's context: keep it for the access line.
    (request as unknown as ContextSlot)[CONTEXT] = currentContext();
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    if (accessLog.isLevelEnabled('info')) {
      // The request's own fields, not the mixin's: with HTTP/1.1 pipelining this hook can run in the
      // async context of the request before it on the socket. Every field the mixin can add is set here
      // (undefined ones are left out of the line), and pino lets these win over the mixin's.
      const own = (request as unknown as ContextSlot)[CONTEXT];
      const fields = own ? logFieldsOf(own) : undefined;
      accessLog.info(
        {
          request_id: request.id,
          tenant_id: fields?.tenant_id,
          user_id: fields?.user_id,
          api_key_id: fields?.api_key_id,
          system: fields?.system,
          method: request.method,
          url: request.routeOptions.url ?? request.url.split('?')[0],
          status: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request completed',
      );
    }
    done();
  });

  await registerOpenApi(app, { version: opts.version, publicUrl: opts.publicUrl });
  return app;
}
