import net from 'node:net';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import type { Composition } from '../../app/compose.js';
import { createLogger } from '../logger.js';
import { denyAllAuthenticator } from './auth.js';
import { createHttpServer, type App } from './server.js';

/** A response as read off the socket. */
interface Raw {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `text` on a fresh TCP connection and parses every response that comes back before it closes. */
function rawExchange(port: number, text: string | (() => AsyncIterable<string>)): Promise<Raw[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseResponses(data)));
    socket.on('connect', () => {
      if (typeof text === 'string') {
        socket.write(text);
        return;
      }
      void (async () => {
        for await (const chunk of text()) socket.write(chunk);
      })();
    });
  });
}

function parseResponses(data: string): Raw[] {
  const out: Raw[] = [];
  let rest = data;
  while (rest.startsWith('HTTP/1.1')) {
    const end = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = rest.slice(end + 4, end + 4 + length);
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const SHAPE = {
  error: { code: expect.stringMatching(/^[A-Z_]+$/) as unknown, message: expect.any(String) as unknown },
};

describe('every response the server writes has the one error shape', () => {
  let c: Composition;
  let token: string;
  const tokens = createTestAuthenticator();
  beforeAll(async () => {
    c = await buildTestApp({ authenticator: tokens.authenticator, bodyLimitBytes: 2048 });
    token = tokens.issue(await createTestOrg(c.tenancy, 'shape'));
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('404, 405-like method mismatches, 413, 415, malformed/empty JSON, 414 and bad percent-encoding', async () => {
    const auth = { authorization: `Bearer ${token}` };
    const json = { ...auth, 'content-type': 'application/json' };
    const cases: { name: string; req: InjectOptions; status: number; code: string }[] = [
      { name: 'unknown route', req: { url: '/v1/nope' }, status: 404, code: 'ROUTE_NOT_FOUND' },
      {
        name: 'known path, wrong method',
        req: { method: 'PUT', url: '/healthz' },
        status: 404,
        code: 'ROUTE_NOT_FOUND',
      },
      {
        name: 'body too large',
        req: {
          method: 'POST',
          url: '/v1/projects',
          headers: json,
          payload: JSON.stringify({ name: 'x'.repeat(4000) }),
        },
        status: 413,
        code: 'PAYLOAD_TOO_LARGE',
      },
      {
        name: 'unsupported media type',
        req: {
          method: 'POST',
          url: '/v1/projects',
          headers: { ...auth, 'content-type': 'text/xml' },
          payload: '<a/>',
        },
        status: 415,
        code: 'UNSUPPORTED_MEDIA_TYPE',
      },
      {
        name: 'malformed JSON',
        req: { method: 'POST', url: '/v1/projects', headers: json, payload: '{"name":' },
        status: 400,
        code: 'BAD_REQUEST',
      },
      {
        name: 'empty JSON body',
        req: { method: 'POST', url: '/v1/projects', headers: json, payload: '' },
        status: 400,
        code: 'BAD_REQUEST',
      },
      {
        // The console's GET fallback route takes such a path and leaves it to the API's 404.
        name: 'too-long path parameter under the console fallback',
        req: { url: `/v1/projects/${'a'.repeat(500)}`, headers: auth },
        status: 404,
        code: 'ROUTE_NOT_FOUND',
      },
      {
        name: 'bad percent-encoding in the path',
        req: { url: '/v1/projects/%E0%A4%A', headers: auth },
        status: 400,
        code: 'BAD_REQUEST',
      },
      {
        name: 'invalid UTF-8 in the path',
        req: { url: '/v1/projects/%FF', headers: auth },
        status: 400,
        code: 'BAD_REQUEST',
      },
    ];
    for (const t of cases) {
      const res = await c.app.inject(t.req);
      expect(res.statusCode, `${t.name}: ${res.body}`).toBe(t.status);
      expect(res.headers['content-type'], t.name).toMatch(/^application\/json/);
      expect(res.json(), t.name).toEqual(SHAPE);
      expect(res.json<{ error: { code: string } }>().error.code, t.name).toBe(t.code);
      expect(res.headers['x-request-id'], t.name).toBeTruthy();
    }
  });
});

describe('answers written outside a route, over a real socket', () => {
  let app: App;
  let port: number;
  let release: () => void = () => {};
  let arrived: () => void = () => {};
  const slowArrived = new Promise<void>((r) => (arrived = r));

  beforeAll(async () => {
    app = await createHttpServer({
      log: createLogger({ level: 'silent' }),
      bodyLimitBytes: 1024,
      trustProxy: false,
      authenticator: denyAllAuthenticator,
      version: 'test',
    });
    app.get('/items/:id', { config: { auth: { kind: 'public', reason: 'test' } } }, async () => ({}));
    app.get('/slow', { config: { auth: { kind: 'public', reason: 'test' } } }, async () => {
      arrived();
      await new Promise<void>((r) => (release = r));
      return { ok: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    port = typeof addr === 'object' && addr ? addr.port : 0;
  });
  afterAll(async () => {
    release();
    await app.close();
  });

  it('414 for a path parameter longer than maxParamLength', async () => {
    const res = await app.inject(`/items/${'a'.repeat(500)}`);
    expect(res.statusCode).toBe(414);
    expect(res.json()).toEqual({ error: { code: 'URI_TOO_LONG', message: 'a path parameter is too long' } });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  it('a request that is not HTTP, and headers that are too large', async () => {
    const [garbage] = await rawExchange(port, 'THIS IS NOT HTTP\r\n\r\n');
    expect(garbage?.status).toBe(400);
    expect(JSON.parse(garbage!.body)).toEqual({
      error: { code: 'BAD_REQUEST', message: 'the request is not valid HTTP' },
    });
    const [huge] = await rawExchange(
      port,
      `GET /slow HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(huge?.status).toBe(431);
    expect(JSON.parse(huge!.body)).toMatchObject({ error: { code: 'HEADERS_TOO_LARGE' } });
  });

  it('503 while draining: a request arriving during close() is answered in the error shape', async () => {
    let closing: Promise<void> | undefined;
    const responses = await rawExchange(port, async function* () {
      // The slow request is in flight on this kept-alive connection when close() begins; the next request on
      // the same connection arrives while the server drains.
      yield 'GET /slow HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n';
      await slowArrived;
      closing = app.close();
      await new Promise((r) => setTimeout(r, 50));
      yield 'GET /slow HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n';
      await new Promise((r) => setTimeout(r, 50));
      release();
    });
    await closing;
    expect(responses.map((r) => r.status)).toEqual([200, 503]);
    expect(JSON.parse(responses[1]!.body)).toEqual({
      error: { code: 'SERVICE_UNAVAILABLE', message: 'the server is shutting down' },
    });
    expect(responses[1]!.headers['retry-after']).toBe('5');
    expect(responses[1]!.headers['x-content-type-options']).toBe('nosniff');
  });
});
