/**
 * One connection of the runtime role whose backend's CPU time a bench reads from /proc (the cluster runs on
 * this machine), beside an admin connection, in a bench database seeded with one organization (one project)
 * and one user: what the statement-level benches (audit-statement.ts, audit-design.ts) measure on.
 */
import fs from 'node:fs';
import pg from 'pg';
import { seedOrgAndUser } from './harness.js';
import type { ProvisionedDatabase } from '../test/support/provision.js';

/** CPU time (ns) backend `pid` has used: the first field of /proc/<pid>/schedstat. */
export function backendCpuNs(pid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

export interface BackendSession {
  /** The seeded organization. */
  readonly org: string;
  /** The seeded user's id. */
  readonly user: string;
  /** A superuser connection, for setup and counts. */
  readonly admin: pg.Client;
  /** The runtime role's connection under measurement. */
  readonly runtime: pg.Client;
  /** The runtime connection's role name (what setup grants to). */
  readonly runtimeRole: string;
  /** CPU time (ns) the runtime connection's backend has used so far. */
  readonly cpuNs: () => number;
  end(): Promise<void>;
}

export async function openBackendSession(db: ProvisionedDatabase): Promise<BackendSession> {
  const { org, user, admin } = await seedOrgAndUser(db.adminUrl, 'a@example.test');
  const runtime = new pg.Client({ connectionString: db.url });
  await runtime.connect();
  const me = await runtime.query<{ p: number; u: string }>('select pg_backend_pid() as p, current_user as u');
  const pid = Number(me.rows[0]!.p);
  return {
    org,
    user,
    admin,
    runtime,
    runtimeRole: me.rows[0]!.u,
    cpuNs: () => backendCpuNs(pid),
    async end() {
      await runtime.end();
      await admin.end();
    },
  };
}
