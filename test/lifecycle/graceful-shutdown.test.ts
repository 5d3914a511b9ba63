import { describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator } from '../support/app.js';
import { createTestOrg, createTestTenancy } from '../support/tenancy.js';
import { runServer } from '../../src/app/run-server.js';
import { createLogger } from '../../src/platform/logger.js';

describe('graceful shutdown under load', () => {
  it('requests in flight complete; every acknowledged write is in the database', async () => {
    const tokens = createTestAuthenticator();
    // Each request spends 150 ms in authentication, so all of them are in flight when shutdown begins.
    let arrived = 0;
    const slow = {
      ...tokens.authenticator,
      authenticate: async (req: Parameters<typeof tokens.authenticator.authenticate>[0]) => {
        arrived += 1;
        await new Promise((r) => setTimeout(r, 150));
        return tokens.authenticator.authenticate(req);
      },
    };
    const c = await buildTestApp({ authenticator: slow });
    const org = await createTestOrg(c.tenancy, 'shutdown');
    const token = tokens.issue(org);
    let stopped = false;
    const server = await runServer({
      composition: c,
      config: { host: '127.0.0.1', port: 0, shutdownTimeoutMs: 5000, publicUrl: undefined },
      log: createLogger({ level: 'silent' }),
      onStopped: async () => {
        stopped = true;
      },
      exit: false,
    });
    const N = 40;
    const requests = Array.from({ length: N }, (_, i) =>
      fetch(`${server.url.replace('localhost', '127.0.0.1')}/v1/projects`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: `inflight-${i}` }),
      }).then(
        async (res) => ({ status: res.status, body: (await res.json()) as { id?: string } }),
        (err: Error) => ({ status: 0, body: { error: err.message } as { id?: string } }),
      ),
    );
    // Shut down once every request has reached the server and is being processed.
    while (arrived < N) await new Promise((r) => setTimeout(r, 5));
    const shutdown = server.shutdown();
    const results = await Promise.all(requests);
    await shutdown;
    expect(stopped).toBe(true);

    const acknowledged = results.filter((r) => r.status >= 200 && r.status < 300);
    expect(acknowledged).toHaveLength(N); // every request was in flight before close: all complete
    const after = createTestTenancy(1);
    try {
      const ids = await after.withTenant(
        org,
        (db) => db.selectFrom('projects').select('id').where('organization_id', '=', org).execute(),
        {
          mode: 'read',
        },
      );
      const stored = new Set(ids.map((r) => r.id));
      for (const r of acknowledged) expect(stored.has(r.body.id!)).toBe(true);
    } finally {
      await after.close();
    }
    // After shutdown nothing is accepted.
    await expect(fetch(`${server.url.replace('localhost', '127.0.0.1')}/healthz`)).rejects.toThrow();
  });
});
