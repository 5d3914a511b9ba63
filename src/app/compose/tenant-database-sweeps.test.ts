import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { openTenantDatabaseSweeps, retentionRules } from './tenant-database-sweeps.js';
import { GDPR_DEFAULTS } from '../../platform/config-gdpr.js';
import { testPool } from '../../../test/support/pools.js';

/**
 * Failure modes of the sweeps on tenant databases, without any PostgreSQL: the control database's
 * listing is a stub, the tenant database's a real pool of the sweeps (createPool) to a server that is
 * down (connections refused) or hung (accepts TCP, never answers).
 */
describe('tenant database sweeps: a tenant database down or hung', () => {
  let hung: net.Server;
  let hungPort = 0;
  const sockets: net.Socket[] = [];
  let refusedPort = 0;

  beforeAll(async () => {
    hung = net.createServer((s) => sockets.push(s)); // accepts, never answers the startup message
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    hungPort = (hung.address() as net.AddressInfo).port;
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    refusedPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
  });
  /** Drops the connections the hung server accepted (their pending connects fail at once). */
  const hangUp = () => {
    for (const s of sockets.splice(0)) s.destroy();
  };
  afterAll(async () => {
    hangUp();
    await new Promise<void>((r) => hung.close(() => r()));
  });

  function capture() {
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          for (const line of chunk.toString().split('\n'))
            if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
          cb();
        },
      }),
    );
    return { lines, log };
  }

  it('a hung tenant database does not hold back the control database page of the seal sweep', async () => {
    const { log } = capture();
    const controlPool = testPool({ max: 1 }); // never used: the control listing is a stub
    const sweeps = openTenantDatabaseSweeps({
      controlPool,
      tenantDatabases: {
        databases: { hung: { workerUrl: `postgres://w:w@127.0.0.1:${hungPort}/x` } },
      },
      log,
    });
    try {
      const listing = sweeps.merged('the audit seal sweep', (t) => async () => {
        if (t.database === undefined) return ['00000000-0000-4000-8000-000000000001'];
        await t.pool.query('select 1');
        return [];
      });
      const started = Date.now();
      const page = await listing(null, 500);
      expect(page).toEqual(['00000000-0000-4000-8000-000000000001']);
      // The sweep runs every 5 s: the control database's pending organizations should not wait for the
      // connection timeout (10 s) of a tenant database that does not answer.
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      hangUp(); // or closing the pool waits for its connection timeout (10 s)
      await sweeps.close();
      await controlPool.end();
    }
  }, 30_000);

  it('a tenant database that is down is not logged on every seal sweep (every 5 s)', async () => {
    const { lines, log } = capture();
    const controlPool = testPool({ max: 1 });
    const sweeps = openTenantDatabaseSweeps({
      controlPool,
      tenantDatabases: {
        databases: { down: { workerUrl: `postgres://w:w@127.0.0.1:${refusedPort}/x` } },
      },
      log,
    });
    try {
      const listing = sweeps.merged('the audit seal sweep', (t) => async () => {
        if (t.database === undefined) return [];
        await t.pool.query('select 1');
        return [];
      });
      // A minute of sweeps, as the sealer's 5 s interval makes them.
      for (let i = 0; i < 12; i += 1) await listing(null, 500);
      const warned = lines.filter((l) => l.tenant_database === 'down' && /failed/.test(String(l.msg)));
      // 12 lines a minute per instance per database down (17,280 a day), each with a stack.
      expect(warned.length).toBeLessThanOrEqual(1);
    } finally {
      await sweeps.close();
      await controlPool.end();
    }
  });

  it('a tenant database that is down fails its audit retention alone: the databases after it still run', async () => {
    const { lines, log } = capture();
    const controlPool = testPool({ max: 1 }); // never used: the control and `next` handlers are stubs
    const down = `postgres://w:w@127.0.0.1:${refusedPort}/x`;
    const sweeps = openTenantDatabaseSweeps({
      controlPool,
      tenantDatabases: { databases: { down: { workerUrl: down }, next: { workerUrl: down } } },
      log,
    });
    try {
      const ran: string[] = [];
      const retention = sweeps.everywhere('retention', (target) => async () => {
        if (target.database !== 'down') {
          ran.push(target.database ?? 'control');
          return;
        }
        // The audit rule of a tenant database: the control database's listing, then the purge there.
        const rule = retentionRules({ ...target, control: target.pool }, GDPR_DEFAULTS.retention).find(
          (r) => r.kind === 'audit_events',
        )!;
        await rule.purgeBatch(new Date(), 1000);
      });
      await retention({}, { tenantId: null, attempt: 1, id: '1' });
      expect(ran).toEqual(['control', 'next']);
      expect(
        lines.filter(
          (l) => l.tenant_database === 'down' && l.msg === 'retention of a tenant database failed',
        ),
      ).toHaveLength(1);
    } finally {
      await sweeps.close();
      await controlPool.end();
    }
  });

  it('a hung tenant database is left after its time limit: the databases after it still run, and its next run is skipped while it hangs', async () => {
    const { lines, log } = capture();
    const controlPool = testPool({ max: 1 }); // never used: the control and `next` handlers are stubs
    const sweeps = openTenantDatabaseSweeps({
      controlPool,
      tenantDatabases: {
        databases: {
          hung: { workerUrl: `postgres://w:w@127.0.0.1:${hungPort}/x` },
          next: { workerUrl: `postgres://w:w@127.0.0.1:${refusedPort}/x` },
        },
      },
      log,
      runTimeLimitMs: 300,
    });
    try {
      const ran: string[] = [];
      let hungStarted = 0;
      const checkpoints = sweeps.everywhere('audit checkpoints', (target) => async () => {
        if (target.database !== 'hung') {
          ran.push(target.database ?? 'control');
          return;
        }
        hungStarted += 1;
        await target.pool.query('select 1'); // the server accepts and never answers (10 s to give up)
      });
      const started = Date.now();
      await checkpoints({}, { tenantId: null, attempt: 1, id: '1' });
      expect(ran).toEqual(['control', 'next']);
      expect(Date.now() - started).toBeLessThan(5_000);
      // The next run while it still hangs: not started again there, the others run.
      await checkpoints({}, { tenantId: null, attempt: 1, id: '2' });
      expect(ran).toEqual(['control', 'next', 'control', 'next']);
      expect(hungStarted).toBe(1);
      const warned = lines.filter((l) => l.tenant_database === 'hung' && /failed/.test(String(l.msg)));
      expect(warned).toHaveLength(1);
    } finally {
      hangUp(); // or closing the pool waits for its connection timeout (10 s)
      await sweeps.close();
      await controlPool.end();
    }
  }, 30_000);
});
