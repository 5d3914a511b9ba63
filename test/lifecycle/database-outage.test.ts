import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator, type LogLines } from '../support/app.js';
import { freePort, provisionDatabase } from '../support/provision.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../../src/platform/db/embedded.js';
import { createBareOrganization } from '../../src/modules/organizations/organization-records.js';
import type { Composition } from '../../src/app/compose.js';

/**
 * The database goes away under a running server (its own private cluster, stopped and started again):
 * API requests answer 503 DATABASE_UNAVAILABLE with Retry-After, not 500; the outage is logged once when
 * it begins and once when it ends, not once per request; the server serves again by itself afterwards.
 */
describe('database outage', () => {
  let base: string;
  let port: number;
  let cluster: EmbeddedCluster | undefined;
  let c: Composition & { logs: LogLines };
  let token: string;
  const tokens = createTestAuthenticator();
  const dir = () => path.join(base, 'pg');

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-outage-'));
    port = await freePort();
    cluster = await startEmbeddedPostgres({ dir: dir(), port });
    const db = await provisionDatabase(cluster.superuserUrl, 'sr_outage');
    c = await buildTestApp({ authenticator: tokens.authenticator, database: db });
    const org = await createBareOrganization(c.tenancy.withTenant, {
      slug: `outage-${port}`,
      name: 'Outage',
    });
    token = tokens.issue(org.id);
  });
  afterAll(async () => {
    await c?.app.close();
    await c?.close();
    await cluster?.stop();
    await fs.rm(base, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  });

  const list = () => c.app.inject({ url: '/v1/projects', headers: { authorization: `Bearer ${token}` } });
  const create = () =>
    c.app.inject({
      method: 'POST',
      url: '/v1/projects',
      headers: { authorization: `Bearer ${token}` },
      payload: { name: 'during the outage' },
    });
  const login = () =>
    c.app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      headers: { origin: 'http://app.saasready.test' },
      payload: { email: 'nobody@example.test', password: 'a long enough passphrase' },
    });
  const lines = (msg: string) => c.logs.filter((l) => l.msg === msg);

  it('503 DATABASE_UNAVAILABLE with Retry-After during the outage, logged once; serves again after', async () => {
    expect((await list()).statusCode).toBe(200);

    await cluster!.stop(); // fast shutdown: open connections are terminated (57P01), new ones refused
    cluster = undefined;
    const answers = [];
    for (let i = 0; i < 15; i++) answers.push(await list(), await create());
    // A public route that reads the database (few: sign-in is throttled per address).
    answers.push(await login(), await login());
    // And concurrently, as a loaded server sees it.
    answers.push(...(await Promise.all(Array.from({ length: 20 }, () => list()))));
    for (const res of answers) {
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json()).toEqual({
        error: { code: 'DATABASE_UNAVAILABLE', message: 'the database is unavailable; try again shortly' },
      });
      expect(res.headers['retry-after']).toBe('5');
    }
    expect((await c.app.inject('/readyz')).statusCode).toBe(503);
    expect(lines('unhandled error')).toEqual([]);
    expect(lines('database unavailable')).toHaveLength(1);
    expect(lines('database unavailable')[0]).toMatchObject({
      level: 40,
      cause: expect.any(String) as unknown,
    });

    cluster = await startEmbeddedPostgres({ dir: dir(), port });
    const deadline = Date.now() + 20_000;
    let res = await list();
    while (res.statusCode !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      res = await list();
    }
    expect(res.statusCode, res.body).toBe(200);
    expect((await create()).statusCode).toBe(201);
    // The recovery line comes from the probe; give it its interval.
    const until = Date.now() + 5_000;
    while (lines('database available again').length === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(lines('database available again')).toHaveLength(1);
    expect(lines('database unavailable')).toHaveLength(1);
    expect(lines('unhandled error')).toEqual([]);
  });
});
