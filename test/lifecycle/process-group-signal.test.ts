import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/provision.js';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * A request whose headers and first half of the body are sent now; `finish()` sends the rest and resolves
 * with the status line the server answers (or the socket error: a reset request).
 */
function halfSentLogin(port: number): Promise<{ finish: () => Promise<string> }> {
  const body = JSON.stringify({ email: 'nobody@example.test', password: 'not the right passphrase' });
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    const done = new Promise<string>((r) => {
      socket.on('close', () => r(data.split('\r\n')[0] || 'closed without an answer'));
      socket.on('error', (err) => r(`socket error: ${err.message}`));
    });
    socket.once('error', reject);
    socket.on('connect', () => {
      socket.write(
        `POST /v1/auth/login HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:${port}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body.slice(0, 10)}`,
      );
      resolve({
        finish: () => {
          socket.write(body.slice(10));
          return done;
        },
      });
    });
  });
}

describe('npm start and a signal to the whole process group', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  /** `npm start` in a process group of its own, as a terminal or a supervisor starts it. */
  async function npmStart() {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-group-'));
    dirs.push(dataDir);
    const child = spawn('npm', ['start', '--silent'], {
      cwd: root,
      detached: true,
      env: {
        ...process.env,
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        DATABASE_URL: '',
        MIGRATION_DATABASE_URL: '',
        DATA_DIR: dataDir,
        EMBEDDED_PG_PORT: String(await freePort()),
        PORT: '0',
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    // Every process of the group has exited once no one holds the output pipes any more.
    const outputClosed = Promise.all([
      new Promise((r) => child.stdout.on('close', r)),
      new Promise((r) => child.stderr.on('close', r)),
    ]);
    const listening = await new Promise<{ port: number; pid: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening:\n${out}`)), 90_000);
      child.stdout.on('data', () => {
        // The server's own line: `{"url":"http://localhost:<port>","pid":<pid>,"msg":"listening"}`.
        const line = /"url":"(http:\/\/[^"]+)","pid":(\d+),"msg":"listening"/.exec(out);
        if (line) {
          clearTimeout(timer);
          resolve({ port: Number(new URL(line[1]!).port), pid: Number(line[2]) });
        }
      });
      void exited.then((code) => reject(new Error(`exited with ${code}:\n${out}`)));
    });
    return {
      ...listening,
      group: child.pid!,
      output: () => out,
      outputClosed,
      kill: () => {
        if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      },
    };
  }

  it('SIGTERM to the group drains, although the server receives it twice: in-flight requests complete', async () => {
    const s = await npmStart();
    try {
      expect(s.pid).not.toBe(s.group); // npm leads the group; the server is another process in it
      // Eight requests in flight: their bodies are not complete when the signal arrives.
      const inFlight = await Promise.all(Array.from({ length: 8 }, () => halfSentLogin(s.port)));
      await new Promise((r) => setTimeout(r, 500)); // the server has read every request's headers
      process.kill(-s.group, 'SIGTERM');
      // A forwarded copy of the same signal (npm forwards what it receives to its child; tsx relays too).
      await new Promise((r) => setTimeout(r, 100));
      process.kill(s.pid, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 600));
      const answers = await Promise.all(inFlight.map((r) => r.finish()));
      for (const a of answers) expect(a, s.output()).toMatch(/^HTTP\/1\.1 (401|403|429) /);
      await s.outputClosed;
      expect(s.output()).toMatch(/"msg":"stopped"/);
      expect(s.output()).not.toMatch(/exiting now/);
    } finally {
      s.kill();
    }
  }, 120_000);

  it('a different signal during the drain is a second request to stop: the server exits at once', async () => {
    const s = await npmStart();
    try {
      const inFlight = await halfSentLogin(s.port);
      await new Promise((r) => setTimeout(r, 300));
      process.kill(-s.group, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 100));
      process.kill(s.pid, 'SIGINT');
      await s.outputClosed; // exits although a request is still in flight
      expect(s.output()).toMatch(/second request to stop: exiting now/);
      expect(s.output()).not.toMatch(/"msg":"stopped"/);
      expect(await inFlight.finish()).not.toMatch(/^HTTP/);
    } finally {
      s.kill();
    }
  }, 120_000);
});
