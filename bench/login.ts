/**
 * Password login throughput of the real composition: `POST /v1/auth/login` with real argon2id hashes
 * (the app's hasher and parameters), distinct users in turn (the per-account throttle never sees two
 * attempts of one account at once), each from its own `X-Forwarded-For` address believed through
 * `trustProxy: ['127.0.0.1']`. For reference, the raw `verify` rate of the same hasher without HTTP or
 * database is measured afterwards at the same concurrency.
 * Usage: npm run bench:login  (env: BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_USERS, BENCH_POOL,
 * BENCH_XFF=0 to send every login from 127.0.0.1 with trustProxy off, BENCH_DATABASE_URL)
 */
import os from 'node:os';
import pg from 'pg';
import { ARGON2_PARAMS, createPasswordHasher } from '../src/modules/auth/passwords.js';
import { LOGIN_THROTTLE_RULES } from '../src/modules/auth/throttle.js';
import { freePort } from '../test/support/provision.js';
import { startCpuAccounting } from './cpu-accounting.js';
import { benchDatabase, measure, seedProjects } from './harness.js';
import { composeBenchApp, loginOverHttp, seedOwners } from './identity.js';
import { fmtInt, non2xxSummary, startLoadGenerator, type RequestSpec } from './load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const USERS = Number(process.env.BENCH_USERS ?? 64);
const POOL = Number(process.env.BENCH_POOL ?? 10);
const XFF = process.env.BENCH_XFF !== '0';
const TARGET = 40;
const PASSWORD = 'bench password: correct horse battery staple';

const { db, close } = await benchDatabase();
const load = startLoadGenerator();
try {
  const orgIds = [...new Set((await seedProjects(db.adminUrl, USERS, 1)).map((r) => r.org))];
  const hasher = createPasswordHasher();
  const hashes = await Promise.all(orgIds.map(() => hasher.hash(PASSWORD))); // distinct salts
  const users = await seedOwners(db.adminUrl, orgIds, PASSWORD, hashes);

  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const composition = await composeBenchApp({
    databaseUrl: db.url,
    keyVaultUrl: db.keyVaultUrl,
    poolSize: POOL,
    publicUrl,
    trustProxy: XFF ? ['127.0.0.1'] : false,
  });
  await composition.app.listen({ host: '127.0.0.1', port });
  try {
    await loginOverHttp(publicUrl, users[0]!); // preflight: a real 200 with a session cookie

    const requests: RequestSpec[] = users.map((u, i) => ({
      method: 'POST',
      path: '/v1/auth/login',
      headers: {
        'content-type': 'application/json',
        ...(XFF ? { 'x-forwarded-for': `10.77.${i >> 8}.${i & 255}` } : {}),
      },
      body: JSON.stringify({ email: u.email, password: u.password }),
    }));
    const job = (name: string, seconds: number) =>
      load.run({ name, url: publicUrl, connections: CONCURRENCY, seconds, pick: 'cycle', requests });

    const warm = await job('warm-up', 2);
    const cpu = startCpuAccounting(await load.threadId);
    const r = await job('login', SECONDS);
    const split = cpu.stop();

    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    const counted = await admin.query<{ n: number; ips: number }>(
      'select count(*)::int as n, count(distinct ip)::int as ips from sessions',
    );
    const { n: sessions, ips } = counted.rows[0]!;
    await admin.end();

    const p = ARGON2_PARAMS;
    console.log(
      `login: ${SECONDS}s, concurrency ${CONCURRENCY}, ${users.length} distinct users in turn, ` +
        (XFF
          ? `each from its own X-Forwarded-For address (trustProxy ['127.0.0.1'])`
          : 'all from 127.0.0.1 (trustProxy off)') +
        `, pool ${POOL}, PostgreSQL ${db.serverVersion}, Node ${process.version}, ` +
        `${os.availableParallelism()} CPUs, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
    );
    console.log(
      `  argon2id (@node-rs/argon2): m = ${p.memoryCost} KiB, t = ${p.timeCost}, p = ${p.parallelism}, ` +
        `${p.outputLen}-byte output, 16-byte salt (src/modules/auth/passwords.ts ARGON2_PARAMS)`,
    );
    console.log(
      `  login throttle per 15 min: ${LOGIN_THROTTLE_RULES.account.limit} failures per account from one address, ` +
        `${LOGIN_THROTTLE_RULES.accountTotal.limit} from all, ${LOGIN_THROTTLE_RULES.ip.limit} per address ` +
        `(a success gives its attempt back)`,
    );
    const codes = non2xxSummary(r);
    console.log(
      `  login    ${r.rate.toFixed(1).padStart(6)} logins/s   p50 ${r.p50.toFixed(0)} ms   p99 ${r.p99.toFixed(0)} ms` +
        `   (${fmtInt(r.ok)} x 200 in ${r.seconds.toFixed(1)} s; non-2xx ${r.non2xx}${codes ? ` [${codes}]` : ''}, errors ${r.errors + r.timeouts})`,
    );
    const msPer = (sec: number) => ((sec * 1000) / r.ok).toFixed(2);
    console.log(
      `  CPU per login: server main thread ${msPer(split.mainThread)} ms + its other threads (libuv pool: argon2) ` +
        `${msPer(split.otherThreads)} ms + PostgreSQL ${msPer(split.postgres)} ms` +
        `   (load generator ${msPer(split.loadThread)} ms; other processes on the machine used ` +
        `${(split.foreign / split.seconds).toFixed(2)} cores meanwhile)`,
    );
    console.log(
      `  sessions created in the database (preflight + warm-up + measured): ${sessions}, ` +
        `from ${ips} distinct client address(es) as the app saw them`,
    );
    if (warm.non2xx + warm.errors > 0)
      console.log(`  warm-up: non-2xx ${warm.non2xx} [${non2xxSummary(warm)}]`);

    // The ceiling: the same hasher's verify, no HTTP, no database, same concurrency.
    const phc = hashes[0]!;
    const raw1 = await measure('verify c=1', 3, 1, () => hasher.verify(phc, PASSWORD));
    const rawN = await measure(`verify c=${CONCURRENCY}`, 5, CONCURRENCY, () => hasher.verify(phc, PASSWORD));
    for (const x of [raw1, rawN]) {
      console.log(
        `  raw ${x.name.padEnd(10)} ${x.rate.toFixed(1).padStart(6)} verifies/s   p50 ${x.p50.toFixed(0)} ms   p99 ${x.p99.toFixed(0)} ms`,
      );
    }
    console.log(
      `  login/raw verify = ${(r.rate / rawN.rate).toFixed(2)};  target >= ${TARGET} logins/s: ${r.rate >= TARGET ? 'met' : 'MISSED'}`,
    );
    if (r.non2xx + r.errors + r.timeouts > 0) {
      console.log(`  INVALID RUN: ${r.non2xx + r.errors + r.timeouts} non-2xx responses or errors`);
      process.exitCode = 1;
    }
  } finally {
    await composition.app.close();
    await composition.close();
  }
} finally {
  await load.close();
  await close();
}
