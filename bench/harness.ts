import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../src/platform/db/embedded.js';
import {
  dropProvisioned,
  freePort,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../test/support/provision.js';

/** Latency/throughput of one measured run. */
export interface RunResult {
  readonly name: string;
  readonly ops: number;
  readonly seconds: number;
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs `op` from `concurrency` async workers for `seconds`, and reports rate and latency percentiles (ms). */
export async function measure(
  name: string,
  seconds: number,
  concurrency: number,
  op: () => Promise<unknown>,
): Promise<RunResult> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        await op();
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0;
  return { name, ops: lat.length, seconds: elapsed, rate: lat.length / elapsed, p50: q(0.5), p99: q(0.99) };
}

/** Median of several values. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** The variants BENCH_ONLY=<name>[,<name>...] names, or all of them without it; refuses a list naming none. */
export function onlyVariants<T>(all: Record<string, T>): Record<string, T> {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  const chosen = Object.fromEntries(Object.entries(all).filter(([name]) => !only || only.includes(name)));
  if (Object.keys(chosen).length === 0)
    throw new Error(`BENCH_ONLY names no variant of ${Object.keys(all).join(', ')}`);
  return chosen;
}

/**
 * Measures every variant once per round, rounds interleaved (a, b, c, a, b, c, ...), so the drift of a
 * shared machine hits every variant alike. Returns each variant's rounds.
 */
export async function interleavedRounds<T, R>(
  variants: Record<string, T>,
  rounds: number,
  measureRound: (name: string, variant: T) => Promise<R>,
): Promise<Record<string, R[]>> {
  const results: Record<string, R[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const [name, v] of Object.entries(variants)) results[name]!.push(await measureRound(name, v));
  }
  return results;
}

/** Medians over rounds of the rate and latency percentiles. */
export function medianRun(rs: readonly RunResult[]): { rate: number; p50: number; p99: number } {
  return {
    rate: median(rs.map((r) => r.rate)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
  };
}

/** CPU seconds summed over the rounds per operation, in microseconds. */
export function cpuPerOpUs<R extends RunResult>(rs: readonly R[], cpu: (r: R) => number): number {
  return (rs.reduce((s, r) => s + cpu(r), 0) / rs.reduce((s, r) => s + r.ops, 0)) * 1e6;
}

/** Prints `ratio a/b = x  note` of two variants' rates, when both were measured. */
export function ratioPrinter(rates: Record<string, { rate: number }>, labelWidth: number) {
  return (a: string, b: string, note: string) => {
    const x = rates[a];
    const y = rates[b];
    if (x && y)
      console.log(`  ${`ratio ${a}/${b}`.padEnd(labelWidth)} = ${(x.rate / y.rate).toFixed(3)}  ${note}`);
  };
}

/**
 * A provisioned database for a benchmark: BENCH_DATABASE_URL (superuser) or an embedded cluster in a
 * temporary directory. `close` drops it, stops the cluster and removes the directory, each step even if
 * the one before failed (Ctrl-C also reaches the cluster, which may be gone already).
 */
export async function benchDatabase(): Promise<{ db: ProvisionedDatabase; close: () => Promise<void> }> {
  let base: string | undefined;
  let cluster: EmbeddedCluster | undefined;
  if (!process.env.BENCH_DATABASE_URL) {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'saasready-pg-'));
    cluster = await startEmbeddedPostgres({ dir: path.join(base, 'pg'), port: await freePort() });
  }
  const superuserUrl = process.env.BENCH_DATABASE_URL ?? cluster!.superuserUrl;
  const db = await provisionDatabase(superuserUrl, 'sr_bench');
  return {
    db,
    close: async () => {
      try {
        await dropProvisioned(db);
      } finally {
        try {
          await cluster?.stop();
        } finally {
          if (base) await fs.rm(base, { recursive: true, force: true });
        }
      }
    },
  };
}

/** Seeds `tenants` organizations with `rows` projects each (as superuser, in bulk), on the `enterprise`
 *  plan: the default `free` plan's hard quota of 1,000 API requests a day would answer 429 within a run
 *  (the quota check itself still runs on every request, finding no quota). */
export async function seedProjects(
  adminUrl: string,
  tenants: number,
  rows: number,
): Promise<{ org: string; id: string }[]> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const res = await admin.query<{ org: string; id: string }>(
      `with orgs as (
         insert into organizations (id, slug, name, plan)
         select gen_random_uuid(), 'bench-' || g, 'Bench ' || g, 'enterprise' from generate_series(1, $1::int) g
         returning id
       ), pl as (insert into tenant_placements (organization_id, database_key) select id, null from orgs)
       insert into projects (organization_id, id, name, description)
       select o.id, gen_random_uuid(), 'project ' || r, 'benchmark row' from orgs o, generate_series(1, $2::int) r
       returning organization_id as org, id`,
      [tenants, rows],
    );
    await admin.query('analyze');
    return res.rows;
  } finally {
    await admin.end();
  }
}

/**
 * The seeding of the one-tenant benches: one organization with one project ({@link seedProjects}) and one
 * user with `email`, inserted by the superuser connection it returns (the caller ends it).
 */
export async function seedOrgAndUser(
  adminUrl: string,
  email: string,
): Promise<{ org: string; user: string; admin: pg.Client }> {
  const org = (await seedProjects(adminUrl, 1, 1))[0]!.org;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const user = (
    await admin.query<{ id: string }>(
      `insert into users (id, email, email_normalized) values (gen_random_uuid(), $1, $1) returning id`,
      [email],
    )
  ).rows[0]!.id;
  return { org, user, admin };
}
