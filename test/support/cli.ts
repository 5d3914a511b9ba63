import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ProvisionedDatabase } from './provision.js';
import { testDb } from './tenancy.js';

const root = path.resolve(import.meta.dirname, '../..');

/** Runs `npx saasready <args>` (bin/saasready.mjs) against the suite's database (or `db`); collects its output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  db: Pick<ProvisionedDatabase, 'url' | 'migrationUrl' | 'workerUrl' | 'roles'> = testDb(),
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/saasready.mjs'), ...args], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        MIGRATION_DATABASE_URL: db.migrationUrl,
        WORKER_DATABASE_URL: db.workerUrl,
        DEFINER_ROLE: db.roles.definer,
        LOG_LEVEL: 'warn',
        ...env,
      },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}
