/**
 * End-to-end tenant read over HTTP: `GET /v1/projects/:id` of the real composition (session cookie,
 * `Authorization: Bearer <access JWT>`, or `Authorization: Bearer srk_…`, an organization API key) vs a
 * bare Fastify + pg route reading the same row with an explicit `organization_id` filter (superuser, no
 * auth, no RLS, same pool size), in one process and one run. autocannon runs in a worker thread; targets alternate over the rounds and the median is reported.
 * CPU time is accounted from /proc per consumer (server thread, libuv pool, PostgreSQL, load generator,
 * other processes); rounds that overlap other work on the machine are marked and, if possible, replaced.
 * Every request reads a random project of a random seeded user's organization; every non-2xx is counted.
 * A reference target, `app-noauth`, is the same composition with a header-trusting authenticator (no I/O,
 * no crypto): the platform's own cost, so the report can tell identity's share from the rest.
 * Usage: npm run bench:http  (env: BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_POOL, BENCH_ROUNDS,
 * BENCH_MAX_FOREIGN, BENCH_MAX_ROUNDS, BENCH_USERS, BENCH_TARGETS=bare,app-noauth,session,jwt,apikey,
 * BENCH_DATABASE_URL)
 */
import os from 'node:os';
import Fastify from 'fastify';
import pg from 'pg';
import { createPasswordHasher } from '../src/modules/auth/passwords.js';
import { freePort } from '../test/support/provision.js';
import { startCpuAccounting, sumSplits, type CpuSplit } from './cpu-accounting.js';
import { benchDatabase, median, seedProjects } from './harness.js';
import {
  composeBenchApp,
  createApiKeyOverHttp,
  headerTrustingAuthenticator,
  issueAccessToken,
  loginOverHttp,
  seedOwners,
} from './identity.js';
import { fmtInt, non2xxSummary, startLoadGenerator, type LoadResult, type RequestSpec } from './load.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const POOL = Number(process.env.BENCH_POOL ?? 10); // DB_POOL_SIZE's default
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** A round during which other processes used more CPU cores than this is noisy (not used if avoidable). */
const MAX_FOREIGN = Number(process.env.BENCH_MAX_FOREIGN ?? 0.1);
const MAX_ROUNDS = Number(process.env.BENCH_MAX_ROUNDS ?? ROUNDS * 3);
const USERS = Number(process.env.BENCH_USERS ?? 100);
/** Subset of targets to run (e.g. `session` alone under --cpu-prof); default all five. */
const ONLY = process.env.BENCH_TARGETS?.split(',').map((t) => t.trim());
const TARGET_RATIO = 0.8;
/** The API-key-authenticated read's target (its own issue's). */
const API_KEY_TARGET_RATIO = 0.75;
const PASSWORD = 'bench password: correct horse battery staple';

const SQL = `select id, name, description, created_at, updated_at from projects
              where organization_id = $1 and id = $2`;

interface ProjectRow {
  id: string;
  name: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The baseline: no auth, no tenancy, the same JSON shape and a response schema like the app's. */
async function startBareServer(adminUrl: string) {
  const pool = new pg.Pool({ connectionString: adminUrl, max: POOL });
  const app = Fastify({ logger: false });
  app.get<{ Params: { org: string; id: string } }>(
    '/bare/projects/:org/:id',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              name: { type: 'string' },
              description: { type: ['string', 'null'] },
              createdAt: { type: 'string' },
              updatedAt: { type: 'string' },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const res = await pool.query<ProjectRow>(SQL, [req.params.org, req.params.id]);
      const r = res.rows[0];
      if (!r) return reply.status(404).send({ error: { code: 'PROJECT_NOT_FOUND', message: 'not found' } });
      return {
        id: r.id,
        name: r.name,
        description: r.description,
        createdAt: r.created_at.toISOString(),
        updatedAt: r.updated_at.toISOString(),
      };
    },
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      await pool.end();
    },
  };
}

/** One request of each kind, checked for a 200 carrying the requested row, before anything is timed. */
async function preflight(base: string, spec: RequestSpec, expectedId: string): Promise<void> {
  const res = await fetch(`${base}${spec.path}`, { headers: spec.headers });
  const body = await res.text();
  if (res.status !== 200 || (JSON.parse(body) as { id?: string }).id !== expectedId) {
    throw new Error(`preflight ${spec.path} answered ${res.status}: ${body}`);
  }
}

const { db, close } = await benchDatabase();
const load = startLoadGenerator();
try {
  const rows = await seedProjects(db.adminUrl, 100, 100);
  const byOrg = new Map<string, string[]>();
  for (const r of rows) byOrg.set(r.org, [...(byOrg.get(r.org) ?? []), r.id]);
  const orgIds = [...byOrg.keys()];

  const hasher = createPasswordHasher();
  const phc = await hasher.hash(PASSWORD); // the app's hasher and parameters; one hash serves every user
  const users = await seedOwners(
    db.adminUrl,
    orgIds,
    PASSWORD,
    orgIds.map(() => phc),
  );

  // publicUrl must name the listening port (cookie/CSRF origin, token issuer): reserve one first.
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const composition = await composeBenchApp({
    databaseUrl: db.url,
    poolSize: POOL,
    publicUrl,
    trustProxy: false,
  });
  await composition.app.listen({ host: '127.0.0.1', port });
  const bare = await startBareServer(db.adminUrl);
  // Reference: the same composition with identity replaced by a header-trusting authenticator.
  const noauthPort = await freePort();
  const noauthUrl = `http://127.0.0.1:${noauthPort}`;
  const noauth = await composeBenchApp({
    databaseUrl: db.url,
    poolSize: POOL,
    publicUrl: noauthUrl,
    trustProxy: false,
    authenticator: headerTrustingAuthenticator(),
  });
  await noauth.app.listen({ host: '127.0.0.1', port: noauthPort });

  try {
    // Real credentials, obtained over HTTP: a session per user, then an access token from that session.
    // And an organization API key per user, created over HTTP by that session.
    const creds: { orgId: string; userId: string; cookie: string; jwt: string; apiKey: string }[] = [];
    for (const user of users.slice(0, USERS)) {
      const cookie = await loginOverHttp(publicUrl, user);
      const jwt = await issueAccessToken(publicUrl, publicUrl, cookie, user.orgId);
      const apiKey = await createApiKeyOverHttp(publicUrl, publicUrl, cookie, user.orgId);
      creds.push({ orgId: user.orgId, userId: user.userId, cookie, jwt, apiKey });
    }

    const bareReqs: RequestSpec[] = [];
    const noauthReqs: RequestSpec[] = [];
    const sessionReqs: RequestSpec[] = [];
    const jwtReqs: RequestSpec[] = [];
    const apiKeyReqs: RequestSpec[] = [];
    for (const c of creds) {
      for (const id of byOrg.get(c.orgId)!) {
        bareReqs.push({ method: 'GET', path: `/bare/projects/${c.orgId}/${id}`, headers: {} });
        noauthReqs.push({
          method: 'GET',
          path: `/v1/projects/${id}`,
          headers: { 'x-bench-user': c.userId, 'x-bench-org': c.orgId },
        });
        sessionReqs.push({ method: 'GET', path: `/v1/projects/${id}`, headers: { cookie: c.cookie } });
        jwtReqs.push({
          method: 'GET',
          path: `/v1/projects/${id}`,
          headers: { authorization: `Bearer ${c.jwt}` },
        });
        apiKeyReqs.push({
          method: 'GET',
          path: `/v1/projects/${id}`,
          headers: { authorization: `Bearer ${c.apiKey}` },
        });
      }
    }
    const firstId = byOrg.get(creds[0]!.orgId)![0]!;
    await preflight(bare.url, bareReqs[0]!, firstId);
    await preflight(noauthUrl, noauthReqs[0]!, firstId);
    await preflight(publicUrl, sessionReqs[0]!, firstId);
    await preflight(publicUrl, jwtReqs[0]!, firstId);
    await preflight(publicUrl, apiKeyReqs[0]!, firstId);

    const targets = [
      { name: 'bare', url: bare.url, requests: bareReqs },
      { name: 'app-noauth', url: noauthUrl, requests: noauthReqs },
      { name: 'session', url: publicUrl, requests: sessionReqs },
      { name: 'jwt', url: publicUrl, requests: jwtReqs },
      { name: 'apikey', url: publicUrl, requests: apiKeyReqs },
    ].filter((t) => !ONLY || ONLY.includes(t.name));
    const loadThread = await load.threadId;
    const job = async (t: (typeof targets)[number], seconds: number) => {
      const cpu = startCpuAccounting(loadThread);
      const r = await load.run({
        name: t.name,
        url: t.url,
        connections: CONNECTIONS,
        seconds,
        pick: 'random',
        requests: t.requests,
      });
      return { ...r, cpu: cpu.stop() };
    };

    const warm: LoadResult[] = [];
    for (const t of targets) warm.push(await job(t, 2));
    // A round runs every target once. On a shared machine a round during which other processes used more
    // than MAX_FOREIGN cores is noisy: rounds go on until ROUNDS quiet ones (at most MAX_ROUNDS in all),
    // and the medians are taken over the quiet rounds when there is any.
    type Run = LoadResult & { cpu: CpuSplit };
    const foreignOf = (r: Run) => r.cpu.foreign / r.cpu.seconds;
    const quiet = (round: Record<string, Run>) =>
      Object.values(round).every((r) => foreignOf(r) <= MAX_FOREIGN);
    const rounds: Record<string, Run>[] = [];
    while (rounds.filter(quiet).length < ROUNDS && rounds.length < MAX_ROUNDS) {
      const round: Record<string, Run> = {};
      for (const t of targets) round[t.name] = await job(t, SECONDS);
      rounds.push(round);
    }
    const quietRounds = rounds.filter(quiet);
    const used = quietRounds.length > 0 ? quietRounds : rounds;

    console.log(
      `http-read: ${SECONDS}s per target per round, targets alternating, ${CONNECTIONS} connections, ` +
        `pool ${POOL} (app runtime pool = bare pool), ${creds.length} signed-in users over ${orgIds.length} orgs x 100 projects, ` +
        `PostgreSQL ${db.serverVersion}, Node ${process.version}, ${os.availableParallelism()} CPUs`,
    );
    console.log("  each request reads a random project of a random signed-in user's organization");
    console.log(
      `  ${rounds.length} rounds run, ${quietRounds.length} quiet (other processes <= ${MAX_FOREIGN} cores); ` +
        (quietRounds.length >= ROUNDS
          ? `medians over the ${quietRounds.length} quiet rounds`
          : quietRounds.length > 0
            ? `MACHINE BUSY: medians over only ${quietRounds.length} quiet round(s)`
            : 'MACHINE BUSY: no quiet round, medians over all rounds'),
    );
    console.log('  per round: req/s [CPU cores used by other processes meanwhile], * = noisy round');
    const cpuLines: string[] = [];
    const summary: Record<string, { rate: number; p99: number; p50: number }> = {};
    let bad = 0;
    for (const t of targets) {
      const name = t.name;
      const all = rounds.map((r) => r[name]!);
      const rs = used.map((r) => r[name]!);
      const s = {
        rate: median(rs.map((r) => r.rate)),
        p99: median(rs.map((r) => r.p99)),
        p50: median(rs.map((r) => r.p50)),
      };
      summary[name] = s;
      const responses = all.reduce((a, r) => a + r.responses, 0);
      const non2xx = all.reduce((a, r) => a + r.non2xx, 0);
      const errors = all.reduce((a, r) => a + r.errors + r.timeouts, 0);
      bad += non2xx + errors;
      const perRound = rounds
        .map((round) => {
          const r = round[name]!;
          return `${fmtInt(r.rate)} [${foreignOf(r).toFixed(2)}]${quiet(round) ? '' : '*'}`;
        })
        .join(' / ');
      const cpu = sumSplits(rs.map((r) => r.cpu));
      const ok = rs.reduce((a, r) => a + r.ok, 0);
      const us = (sec: number) => ((sec * 1e6) / ok).toFixed(0).padStart(4);
      cpuLines.push(
        `  ${name.padEnd(10)} ${us(cpu.mainThread + cpu.otherThreads + cpu.postgres)} µs = server main thread ${us(cpu.mainThread)}` +
          ` + its other threads ${us(cpu.otherThreads)} + PostgreSQL ${us(cpu.postgres)}` +
          `   (load generator ${us(cpu.loadThread)}; CPU busy ${((cpu.mainThread + cpu.loadThread + cpu.otherThreads + cpu.postgres + cpu.foreign) / cpu.seconds).toFixed(2)} of ${os.availableParallelism()} cores)`,
      );
      const codes = all.map(non2xxSummary).filter(Boolean).join(' ');
      console.log(
        `  ${name.padEnd(10)} ${fmtInt(s.rate).padStart(7)} req/s   p50 ${s.p50.toFixed(1)} ms   p99 ${s.p99.toFixed(1)} ms` +
          `   (rounds ${perRound}; ${fmtInt(responses)} responses, non-2xx ${non2xx}${codes ? ` [${codes}]` : ''}, errors ${errors})`,
      );
    }
    console.log('  CPU time per 200 response over the rounds the medians use (from /proc):');
    for (const l of cpuLines) console.log(l);
    const warmBad = warm.reduce((a, r) => a + r.non2xx + r.errors, 0);
    if (warmBad > 0)
      console.log(`  warm-up: ${warmBad} non-2xx/errors (${warm.map(non2xxSummary).join(' ')})`);
    const ratio = (n: string) => summary[n]!.rate / summary.bare!.rate;
    for (const n of summary.bare ? ['session', 'jwt', 'apikey'].filter((x) => summary[x]) : []) {
      const r = ratio(n);
      const target = n === 'apikey' ? API_KEY_TARGET_RATIO : TARGET_RATIO;
      console.log(
        `  ratio ${n.padEnd(10)}/bare = ${r.toFixed(3)}  (target >= ${target.toFixed(2)}: ${r >= target ? 'met' : 'MISSED'})`,
      );
    }
    if (summary.bare && summary['app-noauth']) {
      const ref = summary['app-noauth'];
      console.log(
        `  ratio app-noauth/bare = ${ratio('app-noauth').toFixed(3)}  (reference: the platform without identity)`,
      );
      for (const n of ['session', 'jwt', 'apikey'].filter((x) => summary[x]))
        console.log(
          `  ratio ${n.padEnd(7)}/app-noauth = ${(summary[n]!.rate / ref.rate).toFixed(3)}  (what identity costs)`,
        );
    }
    if (bad > 0) {
      console.log(`  INVALID RUN: ${bad} non-2xx responses or errors in the measured rounds`);
      process.exitCode = 1;
    }
  } finally {
    await composition.app.close();
    await composition.close();
    await noauth.app.close();
    await noauth.close();
    await bare.close();
  }
} finally {
  await load.close();
  await close();
}
