import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The repository root: where `npm start` runs. */
export const root = path.resolve(import.meta.dirname, '../..');

/** A server started as `npm start` starts it. */
export interface Server {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** Embedded mode regardless of the caller's environment. */
const EMBEDDED = { DATABASE_URL: '', MIGRATION_DATABASE_URL: '', WORKER_DATABASE_URL: '' };

/** `node --import tsx src/main.ts` (what `npm start` runs); resolves once it prints its URL. */
export async function startServer(env: Record<string, string>, timeoutMs = 90_000): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...EMBEDDED, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed:\n${out}`)), timeoutMs);
    child.stdout.on('data', () => {
      const m = /running at (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}:\n${out}`)));
  });
  return { child, url, output: () => out };
}

/** Sends `signal` and resolves with the exit code. */
export function stopServer(s: Server, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    s.child.on('exit', (code) => resolve(code));
    s.child.kill(signal);
  });
}

/** Runs main to its exit (a start that fails), with everything it printed. */
export function runToExit(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { ...process.env, ...EMBEDDED, ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}
