import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/provision.js';
import { runToExit as run, startServer as start, stopServer as stop } from './server-process.js';
import { createTenancy } from '../../src/platform/tenancy/tenancy.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';

describe('npm start (embedded PostgreSQL)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  it('boots on the embedded PostgreSQL, prints the URL, stops cleanly on SIGTERM and keeps its data', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-start-'));
    dirs.push(dataDir);
    const pgPort = String(await freePort());
    const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: pgPort, PORT: '0', HOST: '127.0.0.1' };

    const first = await start(env);
    const ready = await fetch(`${first.url}/readyz`);
    expect(ready.status).toBe(200);
    // Write through the runtime role the server itself uses.
    const roles = JSON.parse(await fs.readFile(path.join(dataDir, 'pg-roles.json'), 'utf8')) as {
      runtime: string;
    };
    const url = `postgres://saasready_app:${roles.runtime}@127.0.0.1:${pgPort}/saasready`;
    const tenancy = createTenancy({ url, poolSize: 1 });
    const org = await createBareOrganization(tenancy.withTenant, {
      slug: 'persisted',
      name: 'P',
    });
    await tenancy.close();
    expect(await stop(first)).toBe(0);
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

    const second = await start(env);
    const again = createTenancy({ url, poolSize: 1 });
    const found = await again.withTenant(org.id, (db) =>
      db.selectFrom('organizations').select('slug').where('id', '=', org.id).executeTakeFirst(),
    );
    await again.close();
    expect(found?.slug).toBe('persisted');
    expect(await stop(second, 'SIGINT')).toBe(0);
    // Secrets were generated once and kept.
    const secrets = await fs.stat(path.join(dataDir, 'secrets.json'));
    expect(secrets.mode & 0o777).toBe(0o600);
  }, 120_000); // two cold starts of the embedded cluster: slow on a loaded machine

  it('a bad variable stops the process with one clear line', async () => {
    const { code, out } = await run({ PORT: 'abc' });
    expect(code).toBe(1);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toMatch(/PORT/);
    expect(out).not.toMatch(/\n\s+at /);
    const prod = await run({ NODE_ENV: 'production' });
    expect(prod.code).toBe(1);
    expect(prod.out).toMatch(/SESSION_SECRET|KEK|JWT_PRIVATE_KEY/);
  });
});
