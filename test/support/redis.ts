import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './provision.js';

function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => {
      sock.write('PING\r\n');
    });
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

/**
 * A Redis for the test run: TEST_REDIS_URL, else the machine's 127.0.0.1:6379, else a `redis-server`
 * started here on a free port (stopped by the returned function).
 */
export async function ensureRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const candidates = [process.env.TEST_REDIS_URL, 'redis://127.0.0.1:6379'].filter((u): u is string => !!u);
  for (const url of candidates) {
    if (await reachable(url)) return { url, stop: async () => {} };
  }
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
  } catch {
    throw new Error(
      'no Redis reachable and redis-server is not installed (run .ci/run, or apt-get install redis-server)',
    );
  }
  const url = `redis://127.0.0.1:${port}`;
  const failed = new Promise<never>((_, reject) =>
    child.once('error', () =>
      reject(
        new Error('no Redis reachable and redis-server could not be started (apt-get install redis-server)'),
      ),
    ),
  );
  for (let i = 0; i < 50; i++) {
    const ok = await Promise.race([reachable(url), failed]);
    if (ok) return { url, stop: async () => void child.kill('SIGTERM') };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('redis-server did not become ready');
}
