import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/provision.js';
import { runToExit as run, startServer as start, stopServer as stop } from './server-process.js';
import { isRunning } from '../../src/platform/db/postmaster-lock.js';
import { createTenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';

/** Running (not exited; an exited orphan may linger as a zombie until its new parent reaps it). */
const alive = isRunning;

describe('restart after the server was killed (embedded PostgreSQL)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) {
      // A failed assertion may leave an orphaned postmaster behind: stop it before removing its directory.
      const pidFile = path.join(d, 'pg', 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
      if (pid > 0 && alive(pid)) process.kill(pid, 'SIGINT');
      await fs.rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    }
  });
  const setup = async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-kill-'));
    dirs.push(dataDir);
    const pgPort = String(await freePort());
    return {
      dataDir,
      pgPort,
      env: { DATA_DIR: dataDir, EMBEDDED_PG_PORT: pgPort, PORT: '0', HOST: '127.0.0.1' },
    };
  };

  // A data directory whose server stopped cleanly, and the lock file that server wrote while it ran: the
  // kill test's when it got that far, else one started and stopped for the purpose. The stale-lock test
  // restarts a copy of it (`cp -a`: the cluster's files keep their OS user; PostgreSQL refuses a data
  // directory it does not own), instead of a first start of its own (each start is seconds).
  let cleanlyStopped: { dataDir: string; lock: string } | undefined;
  const stoppedCopy = async () => {
    if (!cleanlyStopped) {
      const { dataDir, env } = await setup();
      const server = await start(env);
      const lock = readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8');
      expect(await stop(server)).toBe(0);
      cleanlyStopped = { dataDir, lock };
    }
    const copy = await setup();
    await promisify(execFile)('cp', ['-a', `${cleanlyStopped.dataDir}/.`, copy.dataDir]);
    return { ...copy, lock: cleanlyStopped.lock.replace(cleanlyStopped.dataDir, copy.dataDir) };
  };

  it('kill -9 of the server leaves its PostgreSQL running; the next start stops it, starts, keeps the data', async () => {
    const { dataDir, pgPort, env } = await setup();
    const first = await start(env);
    const roles = JSON.parse(await fs.readFile(path.join(dataDir, 'pg-roles.json'), 'utf8')) as {
      runtime: string;
    };
    const url = `postgres://saasready_app:${roles.runtime}@127.0.0.1:${pgPort}/saasready`;
    const tenancy = createTenancy({ url, poolSize: 1 });
    const org = await createBareOrganization(tenancy.withTenant, { slug: `kept-${pgPort}`, name: 'K' });
    await tenancy.close();

    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
    const orphan = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    first.child.kill('SIGKILL'); // the server process only, as `kill -9 <pid>` does
    await new Promise((r) => first.child.on('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(orphan)).toBe(true); // the cluster outlived its server and still holds the directory

    const second = await start(env);
    const lock = readFileSync(pidFile, 'utf8');
    expect(second.output()).not.toMatch(/undefined/);
    expect(second.output()).toMatch(/stopping the PostgreSQL \(pid \d+\) a previous run left running/);
    expect(alive(orphan)).toBe(false);
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    const again = createTenancy({ url, poolSize: 1 });
    const found = await again.withTenant(org.id, (db) =>
      db.selectFrom('organizations').select('slug').where('id', '=', org.id).executeTakeFirst(),
    );
    await again.close();
    expect(found?.slug).toBe(`kept-${pgPort}`);
    expect(await stop(second)).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    cleanlyStopped = { dataDir, lock };
  }, 120_000);

  it('a lock file naming a process that is not our PostgreSQL is stale: start anyway', async () => {
    // A cleanly stopped cluster, and the lock file its server wrote (naming this copy's directory).
    const { dataDir, env, lock } = await stoppedCopy();
    const pidFile = path.join(dataDir, 'pg', 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(false);
    // As after a host reboot: the recorded pid now belongs to an unrelated live process.
    const owner = await fs.stat(path.join(dataDir, 'pg')); // the postgres OS user when running as root
    const writeLock = async (pid: number) => {
      await fs.writeFile(pidFile, lock.replace(/^\d+/, String(pid)), { mode: 0o600 });
      await fs.chown(pidFile, owner.uid, owner.gid);
    };
    // An unrelated process of the cluster's OS user (PostgreSQL itself ignores only pids it may not signal).
    const unrelated = spawn('sleep', ['60'], { uid: owner.uid, gid: owner.gid, stdio: 'ignore' });
    await writeLock(unrelated.pid!);
    const second = await start(env).finally(() => unrelated.kill());
    expect((await fetch(`${second.url}/readyz`)).status).toBe(200);
    expect(second.output()).toMatch(/removing a stale .*postmaster\.pid/);
    expect(await stop(second)).toBe(0);
    // And a pid that is not running at all.
    await writeLock(999_999);
    const third = await start(env);
    expect((await fetch(`${third.url}/readyz`)).status).toBe(200);
    expect(await stop(third)).toBe(0);
  }, 120_000);

  it('a database that cannot start says why (never "undefined")', async () => {
    const { env } = await setup();
    // The PostgreSQL port is taken by something else.
    const squatter = net.createServer();
    await new Promise<void>((r) => squatter.listen(Number(env.EMBEDDED_PG_PORT), '127.0.0.1', r));
    try {
      const { code, out } = await run({ ...env, NODE_ENV: 'development', LOG_LEVEL: 'warn' });
      expect(code).toBe(1);
      expect(out).toMatch(
        /saasready: database not ready: .*(Address already in use|could not create any TCP\/IP sockets)/,
      );
      expect(out).not.toMatch(/undefined/);
    } finally {
      squatter.close();
    }
  }, 120_000);
});
