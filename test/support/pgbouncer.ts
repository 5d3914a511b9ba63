import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './provision.js';

/** Debian's PgBouncer (1.18 on bookworm): transaction pooling, no protocol-level prepared statements. */
export const PGBOUNCER_BINARY = process.env.PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer';

export interface PgBouncerOptions {
  /** A superuser URL of the PostgreSQL server to pool: its host and port are where the bouncer connects;
   *  its role looks up the passwords of the roles that log in (`auth_query`), so roles created after the
   *  start (a database a test file provisions) get through too. */
  readonly superuserUrl: string;
  /** Server connections per database and role: small, so that clients share them. */
  readonly poolSize: number;
  /** `DISCARD ALL` on a server connection after every transaction (`server_reset_query_always`), the
   *  default: see docs/pgbouncer.md. False only to show what happens without it. */
  readonly resetAfterTransaction?: boolean;
}

export interface PgBouncer {
  readonly port: number;
  /** Its process id (benchmarks account its CPU). */
  readonly pid: number;
  /** `url` with its host and port replaced by the bouncer's (same role, password and database). */
  via(url: string): string;
  /** Every line PgBouncer logged so far (startup, errors). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a PgBouncer of its own (its own ini on a free port, never the Debian service's 6432) in
 * transaction pooling mode in front of `serverUrl`'s server; resolves once it accepts connections.
 *
 * - SCRAM (`auth_type = hba`, every role but a password-less superuser) with `auth_user`/`auth_query`: clients authenticate to the bouncer with
 *   their roles' real passwords, checked against the SCRAM secrets in `pg_shadow`, and the bouncer logs in
 *   to PostgreSQL as them with the keys of that exchange (or by trust, if the server trusts). Only the
 *   superuser's password is in its userlist.
 * - `ignore_startup_parameters`: pg sends `statement_timeout` and `idle_in_transaction_session_timeout` in
 *   the startup packet (src/platform/db/pool.ts) and PgBouncer refuses parameters it does not track. They
 *   are IGNORED, not applied: behind a bouncer they belong on the role (docs/pgbouncer.md).
 * - Run as root (CI), PgBouncer refuses to start unless told to switch user: it runs as `nobody`, reading
 *   its two files from a world-readable temporary directory (throwaway roles of a test database).
 */
export async function startPgBouncer(opts: PgBouncerOptions): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER_BINARY)) {
    throw new Error(
      `PgBouncer is not installed (${PGBOUNCER_BINARY} is missing): run .ci/run, or apt-get install pgbouncer`,
    );
  }
  const server = new URL(opts.superuserUrl);
  const superuser = decodeURIComponent(server.username);
  const port = await freePort();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-pgbouncer-'));
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const userlist = `${quote(superuser)} ${quote(decodeURIComponent(server.password))}`;
  const ini = [
    '[databases]',
    // Any database name the client asks for, on the same server (the suite's database has a random name).
    `* = host=${server.hostname} port=${server.port || '5432'}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    // SCRAM for every role; the superuser by trust when its URL has no password (a server that trusts it).
    'auth_type = hba',
    `auth_hba_file = ${path.join(dir, 'hba.conf')}`,
    `auth_file = ${path.join(dir, 'userlist.txt')}`,
    `auth_user = ${superuser}`,
    'pool_mode = transaction',
    `default_pool_size = ${opts.poolSize}`,
    'min_pool_size = 0',
    'reserve_pool_size = 0',
    'max_client_conn = 1000',
    'ignore_startup_parameters = statement_timeout,idle_in_transaction_session_timeout,extra_float_digits',
    // Behind transaction pooling the application cannot clean the server connection a statement ran on (it
    // does not know which one): whatever session state a statement left there (a session-level SET, a
    // session advisory lock, a PREPARE) is discarded by the bouncer itself after every transaction.
    ...(opts.resetAfterTransaction === false
      ? ['server_reset_query =']
      : ['server_reset_query = DISCARD ALL', 'server_reset_query_always = 1']),
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'userlist.txt'), `${userlist}\n`, { mode: 0o644 });
  await fs.writeFile(path.join(dir, 'pgbouncer.ini'), ini, { mode: 0o644 });
  const hba = [
    ...(server.password === '' ? [`host all ${superuser} 127.0.0.1/32 trust`] : []),
    'host all all 127.0.0.1/32 scram-sha-256',
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'hba.conf'), hba, { mode: 0o644 });
  await fs.chmod(dir, 0o755);

  const asRoot = process.getuid?.() === 0;
  const args = [...(asRoot ? ['-u', 'nobody'] : []), path.join(dir, 'pgbouncer.ini')];
  const child: ChildProcess = spawn(PGBOUNCER_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));

  const cleanup = () => fs.rm(dir, { recursive: true, force: true });
  const stop = async () => {
    if (!gone) {
      // SIGINT: PgBouncer's immediate shutdown (server connections closed, clients dropped).
      child.kill('SIGINT');
      await exited;
    }
    await cleanup();
  };
  // Ready once it accepts a TCP connection; a bouncer that exited fails at once with its own words.
  for (let i = 0; ; i++) {
    if (gone) {
      await cleanup();
      throw new Error(`PgBouncer exited at start: ${output.trim().slice(-500)}`);
    }
    if (await accepts(port)) break;
    if (i >= 100) {
      await stop();
      throw new Error(`PgBouncer did not accept connections on ${port}: ${output.trim().slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    via(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    log: () => output,
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => done(true));
  });
}

/**
 * The port of the run's PgBouncer when the suite runs through one (`TEST_VIA_PGBOUNCER=1`: global-setup.ts
 * starts it and exports this), else undefined. Test processes inherit it from the run.
 */
export function runBouncerPort(): number | undefined {
  const port = process.env.TEST_PGBOUNCER_PORT;
  return port ? Number(port) : undefined;
}

/** True in a run whose runtime-role URLs go through a transaction-pooling PgBouncer: tests that inspect
 *  their own connection's session state (or pg_stat_activity) skip there, each saying why. */
export const viaPgBouncer = runBouncerPort() !== undefined;

/**
 * `db` with its RUNTIME-role URL through the run's PgBouncer, when there is one. Only that URL: the owner
 * (migrations, placement DDL), the superuser (catalog inspection) and the job worker stay direct. The
 * worker must: graphile-worker LISTENs for new jobs and prepares its statements by name, neither of which
 * survives transaction pooling.
 */
export function viaRunBouncer<T extends { readonly url: string }>(db: T): T {
  const port = runBouncerPort();
  if (port === undefined) return db;
  const u = new URL(db.url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return { ...db, url: u.toString() };
}
