/**
 * The server processes of bench/http-read.ts: the app started exactly as `npm start` starts it
 * (`node --import tsx src/main.ts`, NODE_ENV=production, its default log level unless told otherwise,
 * stdout to /dev/null or a file), the bare baseline server, and the `app-noauth` diagnostic. Every child
 * is tracked and killed when this process exits or is signalled, so a run can never leave one behind
 * or hang on one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ProvisionedDatabase } from '../test/support/provision.js';
import { benchJwtKey } from './identity.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every variable src/platform/config.ts (and prepareDatabase) reads: none leaks in from our environment. */
const APP_VARIABLES = [
  'NODE_ENV', 'HOST', 'PORT', 'PUBLIC_URL', 'DATA_DIR', 'DATABASE_URL', 'MIGRATION_DATABASE_URL',
  'WORKER_DATABASE_URL', 'EMBEDDED_PG_PORT', 'DB_POOL_SIZE', 'REDIS_URL', 'LOG_LEVEL', 'BODY_LIMIT_BYTES',
  'SHUTDOWN_TIMEOUT_MS', 'TRUST_PROXY', 'BASE_DOMAIN', 'SMTP_URL', 'MAIL_FROM', 'REQUIRE_VERIFIED_EMAIL',
  'SESSION_SECRET', 'KEK', 'JWT_PRIVATE_KEY', 'AUDIT_SIGNING_KEY', 'AUDIT_RETIRED_KEYS', 'DEFINER_ROLE',
  'KEY_VAULT_DATABASE_URL', 'KMS_PROVIDER', 'KEK_PREVIOUS', 'TENANT_KEY_CACHE_TTL_SECONDS',
]; // prettier-ignore

const children = new Set<ChildProcess>();
const killAll = () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
};

/** Registers a child to be killed when this process exits. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/**
 * On exit, kill every tracked child; on SIGINT/SIGTERM, also run `cleanup` (bounded by `timeoutMs`)
 * before exiting, so an interrupted run still drops its database and stops its cluster.
 */
export function installCleanup(cleanup: () => Promise<void>, timeoutMs = 30_000): void {
  process.on('exit', killAll);
  let firstAt: number | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (firstAt !== undefined) {
        // Ctrl-C reaches this process twice (from the terminal and relayed by tsx): only a later one
        // is a second request to stop, which exits at once.
        if (Date.now() - firstAt > 3_000) process.exit(130);
        return;
      }
      firstAt = Date.now();
      killAll();
      const timer = setTimeout(() => process.exit(130), timeoutMs);
      void cleanup()
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(timer);
          process.exit(130);
        });
    });
  }
}

/** A server process, listening. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** SIGTERM (the server's graceful shutdown), SIGKILL after `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** The production environment of the app, shared by every app process of a run (same secrets). */
export async function appEnvironment(db: ProvisionedDatabase, poolSize: number, dataDir: string) {
  const key = async () => JSON.stringify((await benchJwtKey()).privateJwk);
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: db.url,
    MIGRATION_DATABASE_URL: db.migrationUrl,
    WORKER_DATABASE_URL: db.workerUrl,
    KEY_VAULT_DATABASE_URL: db.keyVaultUrl,
    DEFINER_ROLE: db.roles.definer,
    DB_POOL_SIZE: String(poolSize),
    SESSION_SECRET: randomBytes(32).toString('base64url'),
    KEK: randomBytes(32).toString('base64url'),
    JWT_PRIVATE_KEY: await key(),
    AUDIT_SIGNING_KEY: await key(),
  };
  if (process.env.BENCH_REDIS_URL) env.REDIS_URL = process.env.BENCH_REDIS_URL;
  return env;
}

function baseEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const v of APP_VARIABLES) delete env[v];
  return env;
}

async function waitUntilReady(child: ChildProcess, url: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${url}: exited (${child.exitCode ?? child.signalCode}) before listening: ${stderr()}`);
    }
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}: not ready after 60 s: ${stderr()}`);
}

/**
 * Starts `node [nodeArgs] --import tsx <entry>` from the repository root with `env` on top of ours
 * (minus the app's variables), stdout to `logFile`, and waits until `readyPath` answers 2xx.
 */
export async function startServer(opts: {
  name: string;
  entry: string;
  port: number;
  env: Record<string, string>;
  readyPath: string;
  logFile: string;
  nodeArgs?: readonly string[];
  /** Another checkout to run `entry` from (default: this repository). */
  cwd?: string;
}): Promise<ServerProcess> {
  const out = fs.openSync(opts.logFile, 'a');
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', opts.entry], {
    cwd: opts.cwd ?? ROOT,
    env: { ...baseEnvironment(), ...opts.env },
    stdio: ['ignore', out, 'pipe'],
  });
  fs.closeSync(out);
  track(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000); // the last words, for a failed start
  });
  const url = `http://127.0.0.1:${opts.port}`;
  try {
    await waitUntilReady(child, `${url}${opts.readyPath}`, () => err.trim());
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    name: opts.name,
    pid: child.pid!,
    url,
    async stop(graceMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
