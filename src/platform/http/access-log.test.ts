import { connect, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createLogger } from '../logger.js';
import type { Authenticated, Authenticator } from './auth.js';
import { createHttpServer } from './server.js';

/** Authenticates `Authorization: User <id>` as that user; tenants are not used here. */
const byHeader: Authenticator = {
  authenticate: (request) => {
    const h = request.headers.authorization;
    const userId = typeof h === 'string' && h.startsWith('User ') ? h.slice(5) : null;
    const who: Authenticated | null = userId
      ? { principal: { kind: 'user', userId }, userId, sessionId: null, isPlatformAdmin: false }
      : null;
    return Promise.resolve(who);
  },
  resolveTenant: () => Promise.resolve(null),
};

describe('the access log line', () => {
  it('names its own request and user, also when HTTP/1.1 pipelining runs its hook in another request’s context', async () => {
    const lines: Record<string, unknown>[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n'))
          if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const app = await createHttpServer({
      log: createLogger({ level: 'info', destination }),
      bodyLimitBytes: 1024,
      trustProxy: false,
      authenticator: byHeader,
      version: 'test',
    });
    app.get('/slow', { config: { auth: { kind: 'user' } } }, async () => {
      await new Promise((r) => setTimeout(r, 50));
      return 'slow';
    });
    app.get('/fast', { config: { auth: { kind: 'user' } } }, async () => 'fast');
    await app.listen({ port: 0, host: '127.0.0.1' });
    onTestFinished(() => app.close());
    const { port } = app.server.address() as AddressInfo;

    // Two requests in one write on one socket: the second's response waits for the first's.
    const socket = connect(port, '127.0.0.1');
    onTestFinished(() => void socket.destroy());
    const request = (path: string, id: string, user: string) =>
      `GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nAuthorization: User ${user}\r\n\r\n`;
    socket.write(
      request('/slow', 'req-first-0001', 'user-one') + request('/fast', 'req-second-002', 'user-two'),
    );
    await expect
      .poll(() => lines.filter((l) => l.msg === 'request completed').length, { timeout: 5000 })
      .toBe(2);
    const completed = lines.filter((l) => l.msg === 'request completed');
    expect(completed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ url: '/slow', request_id: 'req-first-0001', user_id: 'user-one' }),
        expect.objectContaining({ url: '/fast', request_id: 'req-second-002', user_id: 'user-two' }),
      ]),
    );
  });
});
